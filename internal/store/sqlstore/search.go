package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/latch-auth/latch/internal/store"
)

// SearchUsers returns one page of the project's users matching q, ordered
// by (created_at, id), and the count of all matches.
func (db *DB) SearchUsers(ctx context.Context, projectID string, q store.UserQuery, p store.Page) ([]store.User, int, error) {
	where, args, err := userWhere(projectID, q)
	if err != nil {
		return nil, 0, err
	}
	var total int
	if err := db.queryRow(ctx, `SELECT COUNT(*) FROM users u WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, db.wrap(err)
	}

	query := `SELECT ` + userColumns + ` FROM users u WHERE ` + where
	pageArgs := append([]any{}, args...)
	if p.AfterID != "" {
		after := ms(p.AfterCreatedAt)
		query += ` AND (u.created_at > ? OR (u.created_at = ? AND u.id > ?))`
		pageArgs = append(pageArgs, after, after, p.AfterID)
	}
	query += ` ORDER BY u.created_at, u.id`
	if p.Limit > 0 {
		query += ` LIMIT ?`
		pageArgs = append(pageArgs, p.Limit)
	}
	rows, err := db.query(ctx, query, pageArgs...)
	if err != nil {
		return nil, 0, err
	}
	users := []store.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			rows.Close()
			return nil, 0, db.wrap(err)
		}
		users = append(users, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, db.wrap(err)
	}
	if err := db.loadMethods(ctx, projectID, users); err != nil {
		return nil, 0, err
	}
	return users, total, nil
}

// userWhere builds the WHERE clause (over alias u) of a search. Values are
// always parameters.
func userWhere(projectID string, q store.UserQuery) (string, []any, error) {
	args := []any{projectID}
	if len(q.Filters) == 0 {
		return `u.project_id = ?`, args, nil
	}
	join := " AND "
	switch strings.ToUpper(q.Operator) {
	case "", "AND":
	case "OR":
		join = " OR "
	default:
		return "", nil, fmt.Errorf("sqlstore: unknown search operator %q", q.Operator)
	}
	parts := make([]string, 0, len(q.Filters))
	for _, f := range q.Filters {
		cond, fargs, err := filterCondition(projectID, f)
		if err != nil {
			return "", nil, err
		}
		parts = append(parts, "("+cond+")")
		args = append(args, fargs...)
	}
	return `u.project_id = ? AND (` + strings.Join(parts, join) + `)`, args, nil
}

const (
	matchNothing = `1 = 0`
	matchAll     = `1 = 1`
)

// filterCondition returns the SQL condition of one search operand.
func filterCondition(projectID string, f store.UserFilter) (string, []any, error) {
	inList := func(column string, values []string) (string, []any) {
		if len(values) == 0 {
			return matchNothing, nil
		}
		args := make([]any, len(values))
		for i, v := range values {
			args[i] = v
		}
		return column + ` IN (` + placeholders(len(values)) + `)`, args
	}
	// owns wraps a condition over e (emails) or p (phones) of the user.
	owns := func(table, alias, cond string, args []any) (string, []any) {
		return `EXISTS (SELECT 1 FROM ` + table + ` ` + alias + ` WHERE ` + alias + `.project_id = ? AND ` +
			alias + `.user_id = u.id AND ` + cond + `)`, append([]any{projectID}, args...)
	}
	fuzzy := func() string {
		if len(f.Strings) == 0 {
			return ""
		}
		return likePattern(strings.ToLower(f.Strings[0]))
	}

	switch f.Name {
	case store.FilterCreatedAtGreaterThan, store.FilterCreatedAtLessThan, store.FilterCreatedAtBetween:
		var conds []string
		var args []any
		if f.After != nil {
			conds = append(conds, `u.created_at > ?`)
			args = append(args, ms(*f.After))
		}
		if f.Before != nil {
			conds = append(conds, `u.created_at < ?`)
			args = append(args, ms(*f.Before))
		}
		if len(conds) == 0 {
			return matchAll, nil, nil
		}
		return strings.Join(conds, " AND "), args, nil
	case store.FilterStatus:
		c, a := inList(`u.status`, f.Strings)
		return c, a, nil
	case store.FilterUserId:
		c, a := inList(`u.id`, f.Strings)
		return c, a, nil
	case store.FilterEmailAddress:
		lowered := make([]string, len(f.Strings))
		for i, s := range f.Strings {
			lowered[i] = normEmail(s)
		}
		c, a := inList(`e.address_norm`, lowered)
		c, a = owns("emails", "e", c+` AND `+identity("e"), a)
		return c, a, nil
	case store.FilterEmailId:
		c, a := inList(`e.id`, f.Strings)
		c, a = owns("emails", "e", c, a)
		return c, a, nil
	case store.FilterPhoneNumber:
		c, a := inList(`p.number`, f.Strings)
		c, a = owns("phones", "p", c+` AND `+identity("p"), a)
		return c, a, nil
	case store.FilterPhoneId:
		c, a := inList(`p.id`, f.Strings)
		c, a = owns("phones", "p", c, a)
		return c, a, nil
	case store.FilterEmailVerified:
		c, a := owns("emails", "e", `e.verified = ?`, []any{f.Bool})
		return c, a, nil
	case store.FilterPhoneVerified:
		c, a := owns("phones", "p", `p.verified = ?`, []any{f.Bool})
		return c, a, nil
	case store.FilterFullNameFuzzy:
		pat := fuzzy()
		if pat == "" {
			return matchNothing, nil, nil
		}
		exprs := []string{
			`u.first_name || ' ' || u.middle_name || ' ' || u.last_name`,
			`u.first_name || ' ' || u.last_name`,
			`u.first_name`, `u.middle_name`, `u.last_name`,
		}
		conds := make([]string, len(exprs))
		args := make([]any, len(exprs))
		for i, e := range exprs {
			conds[i] = `LOWER(` + e + `) LIKE ? ESCAPE '\'`
			args[i] = pat
		}
		return strings.Join(conds, " OR "), args, nil
	case store.FilterEmailAddressFuzzy:
		pat := fuzzy()
		if pat == "" {
			return matchNothing, nil, nil
		}
		c, a := owns("emails", "e", `e.address_norm LIKE ? ESCAPE '\' AND `+identity("e"), []any{pat})
		return c, a, nil
	case store.FilterPhoneNumberFuzzy:
		pat := fuzzy()
		if pat == "" {
			return matchNothing, nil, nil
		}
		c, a := owns("phones", "p", `p.number LIKE ? ESCAPE '\' AND `+identity("p"), []any{pat})
		return c, a, nil
	case store.FilterTotpId:
		c, a := inList(`t.id`, f.Strings)
		c, a = owns("totps", "t", c, a)
		return c, a, nil
	case store.FilterTotpVerified:
		c, a := owns("totps", "t", `t.verified = ?`, []any{f.Bool})
		return c, a, nil
	case store.FilterOauthProvider, store.FilterWebauthnRegistrationId, store.FilterCryptoWalletId, store.FilterCryptoWalletAddress:
		// Features Latch does not have: nobody has one.
		return matchNothing, nil, nil
	case store.FilterPasswordExists:
		c, a := owns("passwords", "pw", `1 = 1`, nil)
		if !f.Bool {
			c = `NOT ` + c
		}
		return c, a, nil
	case store.FilterWebauthnRegistrationVerified, store.FilterCryptoWalletVerified:
		if f.Bool {
			return matchNothing, nil, nil
		}
		return matchAll, nil, nil
	}
	return "", nil, fmt.Errorf("sqlstore: unknown search filter %q", f.Name)
}

// identity is the condition that a method (alias) is one of its user's
// identities, not an address pending on the user: a search by address or
// number, exact or fuzzy, finds only the user that owns it. Searches by
// email_id or phone_id still find a pending method's user (the id is that
// user's own).
func identity(alias string) string { return alias + `.pending_until IS NULL` }

// likePattern is %s% with LIKE's wildcards in s escaped by '\'.
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}
