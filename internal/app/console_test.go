package app

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latch-auth/latch/internal/secret"
	"github.com/latch-auth/latch/internal/store/storetest"
)

func openTestApp(t *testing.T) *App {
	t.Helper()
	a, err := Open(context.Background(), Config{Database: storetest.SQLiteURL(t), MasterKey: base64.StdEncoding.EncodeToString(secret.Bytes(32))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func status(h http.Handler, path string) (int, string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Code, rec.Header().Get("Location")
}

func TestTheConsoleIsAtSlashConsoleOfTheAPIsAddressByDefault(t *testing.T) {
	a := openTestApp(t)
	if err := a.EnableConsole("http://127.0.0.1:8080/console/", false); err != nil {
		t.Fatal(err)
	}
	h := a.HTTPServer().Handler
	if code, _ := status(h, "/console/sign-in"); code != 200 {
		t.Fatalf("console on the API's listener: %d", code)
	}
	if code, loc := status(h, "/console/"); code != http.StatusSeeOther || loc != "/console/sign-in" {
		t.Fatalf("console home signed out: %d %s", code, loc)
	}
	if code, _ := status(h, "/healthz"); code != 200 {
		t.Fatalf("the API beside it: %d", code)
	}
}

func TestConsoleAddrTakesTheConsoleOffTheAPIsListener(t *testing.T) {
	a := openTestApp(t)
	if err := a.EnableConsole("http://127.0.0.1:8081/console/", true); err != nil {
		t.Fatal(err)
	}
	if code, _ := status(a.HTTPServer().Handler, "/console/sign-in"); code != http.StatusNotFound {
		t.Fatalf("console still on the API's listener: %d", code)
	}
	h := a.consoleHandler()
	if code, _ := status(h, "/console/sign-in"); code != 200 {
		t.Fatalf("console listener: %d", code)
	}
	if code, loc := status(h, "/"); code != http.StatusFound || loc != "/console/" {
		t.Fatalf("/ of the console listener: %d %s", code, loc)
	}
	if code, _ := status(h, "/v1/users/x"); code != http.StatusNotFound {
		t.Fatalf("the API on the console listener: %d", code)
	}
}

func TestConsoleURLMustBeAbsoluteHTTP(t *testing.T) {
	a := openTestApp(t)
	for _, u := range []string{"", "/console/", "ftp://x/console/", "http:///console/"} {
		if err := a.EnableConsole(u, false); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
}
