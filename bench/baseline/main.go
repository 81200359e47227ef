// Command baseline is the bench's limit: a bare net/http server doing only
// what sessions/authenticate cannot avoid — a Basic-auth check against one
// credential (constant-time), a JSON decode of {"session_token":…}, a
// SHA-256 of the token, a map lookup and a ~1 KB JSON reply shaped like
// Latch's. The bench runs it beside `latch serve`, in the same run on the
// same machine, and reports Latch's figures as ratios to it.
//
// With -sign it also mints one RS256 session JWT per request (go-jose over
// Go's crypto/rsa, RSA-2048, the claims shaped like Latch's), as every
// answer of sessions/authenticate must carry the JWT minted for it: the
// signing baseline, whose floor is one RSA signature.
package main

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

type factor struct {
	Type                string `json:"type"`
	DeliveryMethod      string `json:"delivery_method"`
	LastAuthenticatedAt string `json:"last_authenticated_at"`
	CreatedAt           string `json:"created_at"`
	UpdatedAt           string `json:"updated_at"`
	EmailFactor         struct {
		EmailID      string `json:"email_id"`
		EmailAddress string `json:"email_address"`
	} `json:"email_factor"`
}

// sessionData is what the map holds per session; the reply is built from
// it on each request, as Latch builds its reply from the rows it read.
type sessionData struct {
	sessionID, userID, emailID, email string
}

type session struct {
	SessionID             string          `json:"session_id"`
	UserID                string          `json:"user_id"`
	AuthenticationFactors []factor        `json:"authentication_factors"`
	Roles                 []string        `json:"roles"`
	StartedAt             string          `json:"started_at"`
	LastAccessedAt        string          `json:"last_accessed_at"`
	ExpiresAt             string          `json:"expires_at"`
	Attributes            attributes      `json:"attributes"`
	CustomClaims          json.RawMessage `json:"custom_claims"`
}

type attributes struct {
	IPAddress string `json:"ip_address"`
	UserAgent string `json:"user_agent"`
}

type email struct {
	EmailID  string `json:"email_id"`
	Email    string `json:"email"`
	Verified bool   `json:"verified"`
}

type userData struct {
	UserID       string          `json:"user_id"`
	Emails       []email         `json:"emails"`
	Status       string          `json:"status"`
	PhoneNumbers []struct{}      `json:"phone_numbers"`
	Roles        []string        `json:"roles"`
	Name         name            `json:"name"`
	CreatedAt    string          `json:"created_at"`
	Trusted      json.RawMessage `json:"trusted_metadata"`
	Untrusted    json.RawMessage `json:"untrusted_metadata"`
}

type name struct {
	FirstName  string `json:"first_name"`
	MiddleName string `json:"middle_name"`
	LastName   string `json:"last_name"`
}

type reply struct {
	StatusCode   int      `json:"status_code"`
	RequestID    string   `json:"request_id"`
	Session      session  `json:"session"`
	SessionToken string   `json:"session_token"`
	SessionJWT   string   `json:"session_jwt"`
	User         userData `json:"user"`
}

type server struct {
	id, secret []byte
	sessions   map[string]*sessionData // key: string(SHA-256(token))
	reqs       atomic.Uint64
	ts, exp    string      // the timestamps of every reply
	signer     jose.Signer // with -sign: mints a JWT per request
}

// jwt mints the session JWT of one reply.
func (s *server) jwt(sess session) (string, error) {
	now := time.Now().Unix()
	payload, err := json.Marshal(map[string]any{
		"aud": []string{string(s.id)}, "iss": "stytch.com/" + string(s.id), "sub": sess.UserID,
		"iat": now, "nbf": now, "exp": now + 300,
		"https://stytch.com/session": map[string]any{
			"id": sess.SessionID, "started_at": sess.StartedAt, "last_accessed_at": sess.LastAccessedAt,
			"expires_at": sess.ExpiresAt, "attributes": sess.Attributes,
			"authentication_factors": sess.AuthenticationFactors, "roles": sess.Roles,
		},
	})
	if err != nil {
		return "", err
	}
	obj, err := s.signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

func (s *server) authenticate(w http.ResponseWriter, r *http.Request) {
	id, sec, ok := r.BasicAuth()
	if !ok || subtle.ConstantTimeCompare([]byte(id), s.id)&subtle.ConstantTimeCompare([]byte(sec), s.secret) != 1 {
		http.Error(w, `{"status_code":401}`, http.StatusUnauthorized)
		return
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, `{"status_code":400}`, http.StatusBadRequest)
		return
	}
	var req struct {
		SessionToken string `json:"session_token"`
	}
	if err := json.Unmarshal(b, &req); err != nil {
		http.Error(w, `{"status_code":400}`, http.StatusBadRequest)
		return
	}
	h := sha256.Sum256([]byte(req.SessionToken))
	sess := s.sessions[string(h[:])]
	if sess == nil {
		http.Error(w, `{"status_code":404}`, http.StatusNotFound)
		return
	}
	f := factor{Type: "magic_link", DeliveryMethod: "email", LastAuthenticatedAt: s.ts, CreatedAt: s.ts, UpdatedAt: s.ts}
	f.EmailFactor.EmailID, f.EmailFactor.EmailAddress = sess.emailID, sess.email
	se := session{
		SessionID: sess.sessionID, UserID: sess.userID, AuthenticationFactors: []factor{f}, Roles: []string{"stytch_user"},
		StartedAt: s.ts, LastAccessedAt: s.ts, ExpiresAt: s.exp, CustomClaims: json.RawMessage(`{}`),
	}
	var jwt string
	if s.signer != nil {
		if jwt, err = s.jwt(se); err != nil {
			http.Error(w, `{"status_code":500}`, http.StatusInternalServerError)
			return
		}
	}
	out, err := json.Marshal(reply{
		StatusCode: 200, RequestID: "request-id-test-" + strconv.FormatUint(s.reqs.Add(1), 10),
		Session: se, SessionJWT: jwt,
		SessionToken: req.SessionToken,
		User: userData{
			UserID: sess.userID, Emails: []email{{sess.emailID, sess.email, true}}, Status: "active",
			PhoneNumbers: []struct{}{}, Roles: []string{}, CreatedAt: s.ts,
			Trusted: json.RawMessage(`{}`), Untrusted: json.RawMessage(`{}`),
		},
	})
	if err != nil {
		http.Error(w, `{"status_code":500}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(out)
}

// load reads the bench's sessions file: one "token\tsession_id\tuser_id\temail_id\temail" a line.
func load(path string) (map[string]*sessionData, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]*sessionData{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		p := strings.Split(sc.Text(), "\t")
		if len(p) != 5 {
			return nil, fmt.Errorf("%s: want 5 tab-separated fields, got %q", path, sc.Text())
		}
		h := sha256.Sum256([]byte(p[0]))
		m[string(h[:])] = &sessionData{sessionID: p[1], userID: p[2], emailID: p[3], email: p[4]}
	}
	return m, sc.Err()
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "listen address")
	sessions := flag.String("sessions", "", "sessions file written by the bench")
	project := flag.String("project", "", "project_id accepted in Basic auth")
	secret := flag.String("secret", "", "secret accepted in Basic auth")
	sign := flag.Bool("sign", false, "mint one RS256 JWT per request (Go's crypto/rsa)")
	flag.Parse()
	m, err := load(*sessions)
	if err != nil {
		log.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	s := &server{id: []byte(*project), secret: []byte(*secret), sessions: m,
		ts: now.Format(time.RFC3339), exp: now.Add(7 * 24 * time.Hour).Format(time.RFC3339)}
	if *sign {
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			log.Fatal(err)
		}
		s.signer, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: priv, KeyID: "jwk-test-baseline"}},
			(&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			log.Fatal(err)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/sessions/authenticate", s.authenticate)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("baseline: %d sessions, signing %v, listening on %s", len(m), *sign, ln.Addr())
	log.Fatal((&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(ln))
}
