package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/store"
)

// pendingBehaviours hold the rule against account pre-hijacking: an email
// or phone attached to a user by a send (PendingUntil set, not verified) is
// not an identity. It claims nothing, no lookup by address finds its user,
// and the first user to verify an address owns it.
var pendingBehaviours = []behaviour{
	{"PendingEmailClaimsNothingAndTheFirstToVerifyOwnsIt", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		attacker, rival := newUser(t, s, p.ID), newUser(t, s, p.ID)
		const addr = "victim@example.com"
		pending := func(userID, address string) store.Email {
			e := newEmail(p.ID, userID)
			e.Address, e.PendingUntil = address, ptr(t0.Add(5*time.Minute))
			return e
		}
		a, r := pending(attacker.ID, addr), pending(rival.ID, "VICTIM@example.com")
		must(t, s.AddEmail(ctx(), a))
		must(t, s.AddEmail(ctx(), r)) // a second pending claim on another user
		// Twice on one user: refused, pending or not.
		mustBe(t, s.AddEmail(ctx(), pending(attacker.ID, "Victim@Example.com")), store.ErrDuplicateEmail)

		// Nobody owns the address: lookups by address find nobody.
		_, err := s.GetUserByEmail(ctx(), p.ID, addr)
		mustBe(t, err, store.ErrNotFound)
		for _, f := range []store.UserFilter{
			{Name: "email_address", Strings: []string{addr}},
			{Name: "email_address_fuzzy", Strings: []string{"victim@"}},
		} {
			us, total, err := s.SearchUsers(ctx(), p.ID, store.UserQuery{Operator: "AND", Filters: []store.UserFilter{f}}, store.Page{Limit: 10})
			must(t, err)
			equal(t, f.Name+" total", total, 0)
			equal(t, f.Name+" results", len(us), 0)
		}
		// The method's own id still finds its user.
		us, _, err := s.SearchUsers(ctx(), p.ID, store.UserQuery{Operator: "AND", Filters: []store.UserFilter{{Name: "email_id", Strings: []string{a.ID}}}}, store.Page{Limit: 10})
		must(t, err)
		equal(t, "email_id results", len(us), 1)
		equal(t, "email_id finds", us[0].ID, attacker.ID)

		// The victim signs up: a user whose identity the address is.
		victim := newUser(t, s, p.ID, func(u *store.User) { u.Emails[0].Address = addr })
		got, err := s.GetUserByEmail(ctx(), p.ID, strings.ToUpper(addr))
		must(t, err)
		equal(t, "owner", got.ID, victim.ID)
		// No identity twice, and a pending claim cannot be verified past it:
		// nothing changes.
		mustBe(t, s.AddEmail(ctx(), emailAt(p.ID, rival.ID, addr)), store.ErrDuplicateEmail)
		mustBe(t, s.VerifyEmail(ctx(), p.ID, a.ID), store.ErrDuplicateEmail)
		e, err := s.GetEmail(ctx(), p.ID, a.ID)
		must(t, err)
		equal(t, "Verified after a refused verify", e.Verified, false)
		sameTimePtr(t, "PendingUntil after a refused verify", e.PendingUntil, a.PendingUntil)

		// Once the victim is gone, the first pending claim verified owns the
		// address and the second cannot be verified.
		must(t, s.DeleteUser(ctx(), p.ID, victim.ID))
		must(t, s.VerifyEmail(ctx(), p.ID, r.ID))
		mustBe(t, s.VerifyEmail(ctx(), p.ID, a.ID), store.ErrDuplicateEmail)
		got, err = s.GetUserByEmail(ctx(), p.ID, addr)
		must(t, err)
		equal(t, "owner after verification", got.ID, rival.ID)
		us, total, err := s.SearchUsers(ctx(), p.ID, store.UserQuery{Operator: "AND", Filters: []store.UserFilter{{Name: "email_address", Strings: []string{addr}}}}, store.Page{Limit: 10})
		must(t, err)
		equal(t, "email_address total after verification", total, 1)
		equal(t, "email_address finds the owner", us[0].ID, rival.ID)
	}},
	{"PendingPhoneClaimsNothingAndTheFirstToVerifyOwnsIt", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		attacker, rival := newUser(t, s, p.ID), newUser(t, s, p.ID)
		const number = "+14155552799"
		pending := func(userID string) store.Phone {
			ph := newPhone(p.ID, userID)
			ph.Number, ph.PendingUntil = number, ptr(t0.Add(5*time.Minute))
			return ph
		}
		a, r := pending(attacker.ID), pending(rival.ID)
		must(t, s.AddPhone(ctx(), a))
		must(t, s.AddPhone(ctx(), r))
		mustBe(t, s.AddPhone(ctx(), pending(attacker.ID)), store.ErrDuplicatePhone)
		_, err := s.GetUserByPhone(ctx(), p.ID, number)
		mustBe(t, err, store.ErrNotFound)
		for _, f := range []store.UserFilter{
			{Name: "phone_number", Strings: []string{number}},
			{Name: "phone_number_fuzzy", Strings: []string{"5552799"}},
		} {
			_, total, err := s.SearchUsers(ctx(), p.ID, store.UserQuery{Operator: "AND", Filters: []store.UserFilter{f}}, store.Page{Limit: 10})
			must(t, err)
			equal(t, f.Name+" total", total, 0)
		}

		victim := newUser(t, s, p.ID, func(u *store.User) { u.Phones[0].Number = number })
		got, err := s.GetUserByPhone(ctx(), p.ID, number)
		must(t, err)
		equal(t, "owner", got.ID, victim.ID)
		mustBe(t, s.VerifyPhone(ctx(), p.ID, a.ID), store.ErrDuplicatePhone)
		ph, err := s.GetPhone(ctx(), p.ID, a.ID)
		must(t, err)
		equal(t, "Verified after a refused verify", ph.Verified, false)

		must(t, s.DeleteUser(ctx(), p.ID, victim.ID))
		must(t, s.VerifyPhone(ctx(), p.ID, a.ID))
		mustBe(t, s.VerifyPhone(ctx(), p.ID, r.ID), store.ErrDuplicatePhone)
		got, err = s.GetUserByPhone(ctx(), p.ID, number)
		must(t, err)
		equal(t, "owner after verification", got.ID, attacker.ID)
	}},
	{"AVerifyRefusedInATransactionLeavesItUsable", func(t *testing.T, s store.Store) {
		p := newProject(t, s)
		owner, other := newUser(t, s, p.ID), newUser(t, s, p.ID)
		e := emailAt(p.ID, other.ID, owner.Emails[0].Address)
		e.PendingUntil = ptr(t0.Add(5 * time.Minute))
		must(t, s.AddEmail(ctx(), e))
		must(t, s.InTx(ctx(), func(tx store.Store) error {
			mustBe(t, tx.VerifyEmail(ctx(), p.ID, e.ID), store.ErrDuplicateEmail)
			_, err := tx.GetUserByEmail(ctx(), p.ID, owner.Emails[0].Address)
			return err
		}))
	}},
}

// emailAt is a new email of userID with address.
func emailAt(projectID, userID, address string) store.Email {
	e := newEmail(projectID, userID)
	e.Address = address
	return e
}
