package auth

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"
	"github.com/trustelem/zxcvbn/match"

	"github.com/latch-auth/latch/internal/store"
)

// Password policy defaults and bounds (Stytch's dashboard settings).
const (
	minZxcvbnScore = 3
	// zxcvbnRunes is how much of a password zxcvbn scores: its matching
	// grows steeply with length (about 0.1 s at 64 characters on a busy
	// core, over 0.5 s at 100), so only the first 64 characters are
	// scored, under the hashing semaphore. A prefix is never stronger than
	// the whole, so this can only call a long password weaker.
	zxcvbnRunes           = 64
	defaultLUDSMinLength  = 8
	defaultLUDSComplexity = 3
)

// PasswordPolicyOf is the project's strength policy: zxcvbn or luds.
func PasswordPolicyOf(p store.Project) string {
	if p.PasswordPolicy == store.PolicyLUDS {
		return store.PolicyLUDS
	}
	return store.PolicyZxcvbn
}

// LUDSMinLengthOf is the project's LUDS minimum length.
func LUDSMinLengthOf(p store.Project) int {
	if p.LUDSMinLength <= 0 {
		return defaultLUDSMinLength
	}
	return p.LUDSMinLength
}

// LUDSComplexityOf is how many character classes LUDS asks for.
func LUDSComplexityOf(p store.Project) int {
	if p.LUDSComplexity <= 0 {
		return defaultLUDSComplexity
	}
	return p.LUDSComplexity
}

func applyPasswordSettings(p *store.Project, set ProjectSettings) error {
	if v := set.PasswordPolicy; v != nil {
		if *v != store.PolicyZxcvbn && *v != store.PolicyLUDS {
			return fmt.Errorf("password policy must be zxcvbn or luds, not %q", *v)
		}
		p.PasswordPolicy = *v
	}
	if v := set.LUDSMinLength; v != nil {
		if *v < 8 || *v > 32 {
			return fmt.Errorf("LUDS minimum length must be 8–32, not %d", *v)
		}
		p.LUDSMinLength = *v
	}
	if v := set.LUDSComplexity; v != nil {
		if *v < 1 || *v > 4 {
			return fmt.Errorf("LUDS complexity must be 1–4, not %d", *v)
		}
		p.LUDSComplexity = *v
	}
	return nil
}

// LUDSRequirements is the LUDS part of a strength check's feedback.
type LUDSRequirements struct {
	HasLowerCase      bool `json:"has_lower_case"`
	HasUpperCase      bool `json:"has_upper_case"`
	HasDigit          bool `json:"has_digit"`
	HasSymbol         bool `json:"has_symbol"`
	MissingComplexity int  `json:"missing_complexity"`
	MissingCharacters int  `json:"missing_characters"`
}

// Feedback tells the user how to make a password stronger.
type Feedback struct {
	Warning          string            `json:"warning"`
	Suggestions      []string          `json:"suggestions"`
	LUDSRequirements *LUDSRequirements `json:"luds_requirements,omitempty"`
}

// Strength is the answer of passwords/strength_check.
type Strength struct {
	ValidPassword           bool     `json:"valid_password"`
	Score                   int      `json:"score"`
	BreachedPassword        bool     `json:"breached_password"`
	StrengthPolicy          string   `json:"strength_policy"`
	BreachDetectionOnCreate bool     `json:"breach_detection_on_create"`
	Feedback                Feedback `json:"feedback"`
}

// StrengthCheckRequest is POST /v1/passwords/strength_check.
type StrengthCheckRequest struct {
	Password string `json:"password"`
	Email    string `json:"email"`
}

// StrengthCheck scores a password under the project's policy and looks it
// up in the breached-password files when the server has them.
func (s *Service) StrengthCheck(ctx context.Context, p store.Project, r StrengthCheckRequest) (Strength, error) {
	if err := checkPasswordInput(r.Password, "password"); err != nil {
		return Strength{}, err
	}
	var email string
	if r.Email != "" {
		addr, err := NormalizeEmail(r.Email)
		if err != nil {
			return Strength{}, err
		}
		email = addr
	}
	return s.strength(ctx, p, r.Password, email)
}

func checkPasswordInput(pw, field string) error {
	switch {
	case pw == "":
		return ErrBadRequest.With("%s is required.", field)
	case len(pw) > maxPasswordBytes:
		return ErrBadRequest.With("%s must be at most %d bytes.", field, maxPasswordBytes)
	case !utf8.ValidString(pw):
		return ErrBadRequest.With("%s must be UTF-8.", field)
	}
	return nil
}

func (s *Service) strength(ctx context.Context, p store.Project, pw, email string) (Strength, error) {
	var inputs []string
	if email != "" {
		local, _, _ := strings.Cut(email, "@")
		inputs = []string{email, local}
	}
	scored := pw
	if r := []rune(pw); len(r) > zxcvbnRunes {
		scored = string(r[:zxcvbnRunes])
	}
	var z zxcvbn.Result
	if err := s.passwords.bounded(ctx, func() { z = zxcvbn.PasswordStrength(scored, inputs) }); err != nil {
		return Strength{}, err
	}
	out := Strength{Score: z.Score, StrengthPolicy: PasswordPolicyOf(p), BreachDetectionOnCreate: s.breached != ""}
	breached, err := s.isBreached(pw)
	if err != nil {
		return Strength{}, err
	}
	out.BreachedPassword = breached
	if out.StrengthPolicy == store.PolicyLUDS {
		l := luds(pw, LUDSMinLengthOf(p), LUDSComplexityOf(p))
		out.Feedback = Feedback{Suggestions: []string{}, LUDSRequirements: &l}
		out.ValidPassword = l.MissingComplexity == 0 && l.MissingCharacters == 0 && !breached
		if breached {
			out.Feedback.Warning = "This password has appeared in a data breach."
		}
		return out, nil
	}
	out.ValidPassword = z.Score >= minZxcvbnScore && !breached
	out.Feedback = zxcvbnFeedback(z, breached)
	return out, nil
}

// checkNewPassword refuses a password the project's policy does not
// accept: 400 breached_password or weak_password.
func (s *Service) checkNewPassword(ctx context.Context, p store.Project, pw, email string) error {
	if err := checkPasswordInput(pw, "password"); err != nil {
		return err
	}
	st, err := s.strength(ctx, p, pw, email)
	if err != nil {
		return err
	}
	switch {
	case st.BreachedPassword:
		return ErrBreachedPassword
	case !st.ValidPassword:
		msg := ErrWeakPassword.Message
		if st.Feedback.Warning != "" {
			msg += " " + st.Feedback.Warning
		}
		return ErrWeakPassword.With("%s", msg)
	}
	return nil
}

func luds(pw string, minLen, complexity int) LUDSRequirements {
	var l LUDSRequirements
	for _, r := range pw {
		switch {
		case unicode.IsLower(r):
			l.HasLowerCase = true
		case unicode.IsUpper(r):
			l.HasUpperCase = true
		case unicode.IsDigit(r):
			l.HasDigit = true
		default:
			l.HasSymbol = true
		}
	}
	n := 0
	for _, b := range []bool{l.HasLowerCase, l.HasUpperCase, l.HasDigit, l.HasSymbol} {
		if b {
			n++
		}
	}
	l.MissingComplexity = max(0, complexity-n)
	l.MissingCharacters = max(0, minLen-utf8.RuneCountInString(pw))
	return l
}

// zxcvbnFeedback is zxcvbn's feedback (its feedback.js, in short) for the
// weakest part of the password; none for a password that passes.
func zxcvbnFeedback(z zxcvbn.Result, breached bool) Feedback {
	f := Feedback{Suggestions: []string{}}
	if breached {
		f.Warning = "This password has appeared in a data breach."
		f.Suggestions = append(f.Suggestions, "Choose a password you have not used elsewhere.")
	}
	if z.Score >= minZxcvbnScore {
		return f
	}
	f.Suggestions = append(f.Suggestions, "Add another word or two. Uncommon words are better.")
	var longest *match.Match
	for _, m := range z.Sequence {
		if longest == nil || len(m.Token) > len(longest.Token) {
			longest = m
		}
	}
	if longest == nil {
		return f
	}
	warning := ""
	switch longest.Pattern {
	case "dictionary":
		switch {
		case longest.DictionaryName == "passwords":
			warning = "This is similar to a commonly used password."
		case longest.DictionaryName == "user_inputs":
			warning = "This is too close to your email address."
		default:
			warning = "A word by itself is easy to guess."
		}
		f.Suggestions = append(f.Suggestions, "Predictable substitutions like '@' instead of 'a' don't help very much.")
	case "spatial":
		warning = "Short keyboard patterns are easy to guess."
		f.Suggestions = append(f.Suggestions, "Use a longer keyboard pattern with more turns.")
	case "repeat":
		warning = `Repeats like "abcabcabc" are only slightly harder to guess than "abc".`
		f.Suggestions = append(f.Suggestions, "Avoid repeated words and characters.")
	case "sequence":
		warning = "Sequences like abc or 6543 are easy to guess."
		f.Suggestions = append(f.Suggestions, "Avoid sequences.")
	case "regex", "date":
		warning = "Dates and recent years are often easy to guess."
		f.Suggestions = append(f.Suggestions, "Avoid dates and years that are associated with you.")
	}
	if f.Warning == "" {
		f.Warning = warning
	}
	return f
}

// isBreached looks the password up in the breached-password range files:
// the file named by the first 5 hex digits of its SHA-1 (upper case, with
// or without .txt), lines of the other 35 digits, a colon and a count, as
// Have I Been Pwned's range API and downloader publish them. A count of 0
// is padding. No directory: nothing is breached (and the answers say the
// check was not made).
func (s *Service) isBreached(pw string) (bool, error) {
	if s.breached == "" {
		return false, nil
	}
	sum := sha1.Sum([]byte(pw))
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	prefix, suffix := h[:5], h[5:]
	var f *os.File
	var err error
	for _, name := range []string{prefix + ".txt", prefix, strings.ToLower(prefix) + ".txt"} {
		if f, err = os.Open(filepath.Join(s.breached, name)); err == nil {
			break
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("breached passwords: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		got, count, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(got, suffix) && strings.TrimLeft(count, "0") != "" {
			return true, nil
		}
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("breached passwords: %w", err)
	}
	return false, nil
}
