package storetest

import (
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

var sdkBehaviours = []behaviour{
	{"APublicTokenIsGivenOnceAndNamesItsProject", func(t *testing.T, s store.Store) {
		p, q := newProject(t, s), newProject(t, s)
		_, err := s.GetPublicToken(ctx(), p.ID)
		mustBe(t, err, store.ErrNotFound)
		tok := id("public-token")
		got, err := s.EnsurePublicToken(ctx(), p.ID, tok, t0)
		must(t, err)
		equal(t, "token", got, tok)
		// A second token for the project is not taken: the first stays.
		got, err = s.EnsurePublicToken(ctx(), p.ID, id("public-token"), t0)
		must(t, err)
		equal(t, "token kept", got, tok)
		pid, err := s.ProjectIDByPublicToken(ctx(), tok)
		must(t, err)
		equal(t, "project", pid, p.ID)
		_, err = s.ProjectIDByPublicToken(ctx(), id("public-token"))
		mustBe(t, err, store.ErrNotFound)
		// Another project cannot take the same token.
		if _, err := s.EnsurePublicToken(ctx(), q.ID, tok, t0); err == nil {
			t.Fatal("two projects share a public token")
		}
		// PKCE for its magic links: on until turned off.
		on, err := s.SDKPKCERequired(ctx(), p.ID)
		must(t, err)
		equal(t, "pkce by default", on, true)
		must(t, s.SetSDKPKCERequired(ctx(), p.ID, false))
		on, err = s.SDKPKCERequired(ctx(), p.ID)
		must(t, err)
		equal(t, "pkce turned off", on, false)
		mustBe(t, s.SetSDKPKCERequired(ctx(), q.ID, false), store.ErrNotFound)
		must(t, s.DeleteProject(ctx(), p.ID))
		_, err = s.ProjectIDByPublicToken(ctx(), tok)
		mustBe(t, err, store.ErrNotFound)
	}},
	{"SDKOriginsAreAProjectsOwnAndExact", func(t *testing.T, s store.Store) {
		p, q := newProject(t, s), newProject(t, s)
		const o = "https://app.example"
		must(t, s.AddSDKOrigin(ctx(), store.SDKOrigin{ProjectID: p.ID, Origin: o, CreatedAt: t0}))
		mustBe(t, s.AddSDKOrigin(ctx(), store.SDKOrigin{ProjectID: p.ID, Origin: o, CreatedAt: t0}), store.ErrAlreadyExists)
		must(t, s.AddSDKOrigin(ctx(), store.SDKOrigin{ProjectID: p.ID, Origin: "http://localhost:3000", CreatedAt: t0.Add(time.Second)}))
		os, err := s.ListSDKOrigins(ctx(), p.ID)
		must(t, err)
		if len(os) != 2 || os[0].Origin != o || os[0].ProjectID != p.ID {
			t.Fatalf("origins: %+v", os)
		}
		sameTime(t, "created_at", os[0].CreatedAt, t0)
		qs, err := s.ListSDKOrigins(ctx(), q.ID)
		must(t, err)
		equal(t, "another project's origins", len(qs), 0)
		mustBe(t, s.DeleteSDKOrigin(ctx(), q.ID, o), store.ErrNotFound)
		for origin, want := range map[string]bool{o: true, "https://app.example/": false, "https://APP.example": false, "null": false} {
			known, err := s.SDKOriginKnown(ctx(), origin)
			must(t, err)
			equal(t, "known "+origin, known, want)
		}
		must(t, s.DeleteSDKOrigin(ctx(), p.ID, o))
		mustBe(t, s.DeleteSDKOrigin(ctx(), p.ID, o), store.ErrNotFound)
		known, err := s.SDKOriginKnown(ctx(), o)
		must(t, err)
		equal(t, "known after delete", known, false)
	}},
}
