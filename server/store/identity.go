package store

import (
	"context"
	"database/sql"
	"errors"
	"sort"
	"strings"
	"time"
)

// Org is a Chef organization.
type Org struct {
	Name, FullName, GUID string
	CreatedAt            time.Time
}

// User is a global Chef user.
type User struct {
	Name, Email, DisplayName, FirstName, LastName, MiddleName string
	CreatedAt                                                 time.Time
}

// Client is an org's API client (a node's identity).
type Client struct {
	Org, Name string
	Validator bool
}

// Key is one named public key of a user or client.
type Key struct {
	Name         string
	PublicKeyPEM string
	Expires      time.Time // zero = infinity
}

// Expired reports whether the key has expired at now.
func (k Key) Expired(now time.Time) bool { return !k.Expires.IsZero() && !now.Before(k.Expires) }

// ClientWithKey is a client and its first key, for bulk registration.
type ClientWithKey struct {
	Client
	Key *Key
}

// Owner kinds of keys.
const (
	KindUser   = "user"
	KindClient = "client"
)

// Group is an org group; member lists are sorted.
type Group struct {
	Org, Name              string
	Users, Clients, Groups []string
}

// ---- orgs ----

// CreateOrg inserts an org.
func (s *Store) CreateOrg(ctx context.Context, o Org) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO orgs(name, full_name, guid, created_at) VALUES(?,?,?,?)`, o.Name, o.FullName, o.GUID, ts(o.CreatedAt))
	if isUnique(err) {
		return ErrExists
	}
	return err
}

// GetOrg returns an org.
func (s *Store) GetOrg(ctx context.Context, name string) (*Org, error) {
	var o Org
	var c int64
	err := s.r.QueryRowContext(ctx, `SELECT name, full_name, guid, created_at FROM orgs WHERE name=?`, name).Scan(&o.Name, &o.FullName, &o.GUID, &c)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	o.CreatedAt = fromTS(c)
	return &o, err
}

// ListOrgs returns every org, by name.
func (s *Store) ListOrgs(ctx context.Context) ([]Org, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, full_name, guid, created_at FROM orgs ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Org
	for rows.Next() {
		var o Org
		var c int64
		if err := rows.Scan(&o.Name, &o.FullName, &o.GUID, &c); err != nil {
			return nil, err
		}
		o.CreatedAt = fromTS(c)
		out = append(out, o)
	}
	return out, rows.Err()
}

// DeleteOrg removes an org with its clients and their keys, groups, memberships and jobs.
func (s *Store) DeleteOrg(ctx context.Context, name string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM keys WHERE kind='client' AND org=?`, name); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM group_members WHERE org=?`, name); err != nil {
			return err
		}
		return affected(tx.ExecContext(ctx, `DELETE FROM orgs WHERE name=?`, name))
	})
}

// ---- users ----

// CreateUser inserts a user and, when key is not nil, its first key.
func (s *Store) CreateUser(ctx context.Context, u User, key *Key) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO users(name, email, display_name, first_name, last_name, middle_name, created_at) VALUES(?,?,?,?,?,?,?)`,
			u.Name, u.Email, u.DisplayName, u.FirstName, u.LastName, u.MiddleName, ts(u.CreatedAt))
		if isUnique(err) {
			return ErrExists
		} else if err != nil {
			return err
		}
		if key != nil {
			return insertKey(ctx, tx, KindUser, "", u.Name, *key)
		}
		return nil
	})
}

// GetUser returns a user.
func (s *Store) GetUser(ctx context.Context, name string) (*User, error) {
	var u User
	var c int64
	err := s.r.QueryRowContext(ctx, `SELECT name, email, display_name, first_name, last_name, middle_name, created_at FROM users WHERE name=?`, name).
		Scan(&u.Name, &u.Email, &u.DisplayName, &u.FirstName, &u.LastName, &u.MiddleName, &c)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	u.CreatedAt = fromTS(c)
	return &u, err
}

// UserEmailTaken reports whether another user has this email.
func (s *Store) UserEmailTaken(ctx context.Context, email string) (bool, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE email=?`, email).Scan(&n)
	return n > 0, err
}

// ListUsers returns every user name, sorted.
func (s *Store) ListUsers(ctx context.Context) ([]string, error) {
	return s.strings(ctx, `SELECT name FROM users ORDER BY name`)
}

// DeleteUser removes a user, its keys, associations and group memberships.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM keys WHERE kind='user' AND owner=?`, name); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM group_members WHERE kind='user' AND member=?`, name); err != nil {
			return err
		}
		return affected(tx.ExecContext(ctx, `DELETE FROM users WHERE name=?`, name))
	})
}

// ---- clients ----

// CreateClient inserts a client and, when key is not nil, its first key.
func (s *Store) CreateClient(ctx context.Context, c Client, key *Key) error {
	return s.CreateClients(ctx, []ClientWithKey{{Client: c, Key: key}})
}

// CreateClients inserts many clients in one transaction; ErrExists (and nothing inserted) when
// any of them exists.
func (s *Store) CreateClients(ctx context.Context, cs []ClientWithKey) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO clients(org, name, validator) VALUES(?,?,?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, c := range cs {
			_, err := stmt.ExecContext(ctx, c.Org, c.Name, c.Validator)
			if isUnique(err) {
				return ErrExists
			} else if err != nil {
				if isForeignKey(err) {
					return ErrNotFound
				}
				return err
			}
			if c.Key != nil {
				if err := insertKey(ctx, tx, KindClient, c.Org, c.Name, *c.Key); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func isForeignKey(err error) bool {
	return err != nil && (errors.Is(err, sql.ErrNoRows) || strings.Contains(err.Error(), "FOREIGN KEY"))
}

// GetClient returns a client.
func (s *Store) GetClient(ctx context.Context, org, name string) (*Client, error) {
	c := Client{Org: org, Name: name}
	err := s.r.QueryRowContext(ctx, `SELECT validator FROM clients WHERE org=? AND name=?`, org, name).Scan(&c.Validator)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return &c, err
}

// ListClients returns the org's client names, sorted.
func (s *Store) ListClients(ctx context.Context, org string) ([]string, error) {
	return s.strings(ctx, `SELECT name FROM clients WHERE org=? ORDER BY name`, org)
}

// DeleteClient removes a client, its keys and group memberships.
func (s *Store) DeleteClient(ctx context.Context, org, name string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM keys WHERE kind='client' AND org=? AND owner=?`, org, name); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM group_members WHERE org=? AND kind='client' AND member=?`, org, name); err != nil {
			return err
		}
		return affected(tx.ExecContext(ctx, `DELETE FROM clients WHERE org=? AND name=?`, org, name))
	})
}

// ---- keys ----

func insertKey(ctx context.Context, tx *sql.Tx, kind, org, owner string, k Key) error {
	var exp int64
	if !k.Expires.IsZero() {
		exp = ts(k.Expires)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO keys(kind, org, owner, name, public_key, expires) VALUES(?,?,?,?,?,?)`, kind, org, owner, k.Name, k.PublicKeyPEM, exp)
	if isUnique(err) {
		return ErrExists
	}
	return err
}

// AddKey adds a key to a user (org "") or a client.
func (s *Store) AddKey(ctx context.Context, kind, org, owner string, k Key) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return insertKey(ctx, tx, kind, org, owner, k) })
}

// PutKey replaces (or adds) a key.
func (s *Store) PutKey(ctx context.Context, kind, org, owner string, k Key) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM keys WHERE kind=? AND org=? AND owner=? AND name=?`, kind, org, owner, k.Name); err != nil {
			return err
		}
		return insertKey(ctx, tx, kind, org, owner, k)
	})
}

// DeleteKey removes a key.
func (s *Store) DeleteKey(ctx context.Context, kind, org, owner, name string) error {
	return affected(s.w.ExecContext(ctx, `DELETE FROM keys WHERE kind=? AND org=? AND owner=? AND name=?`, kind, org, owner, name))
}

// ListKeys returns a user's (org "") or client's keys, by name.
func (s *Store) ListKeys(ctx context.Context, kind, org, owner string) ([]Key, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, public_key, expires FROM keys WHERE kind=? AND org=? AND owner=? ORDER BY name`, kind, org, owner)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Key
	for rows.Next() {
		var k Key
		var exp int64
		if err := rows.Scan(&k.Name, &k.PublicKeyPEM, &exp); err != nil {
			return nil, err
		}
		if exp != 0 {
			k.Expires = fromTS(exp)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// ---- org membership ----

// AddOrgUser associates a user with an org; ErrExists when already, ErrNotFound when either is missing.
func (s *Store) AddOrgUser(ctx context.Context, org, user string) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO org_users(org, user) VALUES(?,?)`, org, user)
	switch {
	case isUnique(err):
		return ErrExists
	case isForeignKey(err):
		return ErrNotFound
	}
	return err
}

// RemoveOrgUser dissociates a user from an org.
func (s *Store) RemoveOrgUser(ctx context.Context, org, user string) error {
	return affected(s.w.ExecContext(ctx, `DELETE FROM org_users WHERE org=? AND user=?`, org, user))
}

// IsOrgMember reports whether a user is associated with an org.
func (s *Store) IsOrgMember(ctx context.Context, org, user string) (bool, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM org_users WHERE org=? AND user=?`, org, user).Scan(&n)
	return n > 0, err
}

// ListOrgUsers returns the org's users, sorted.
func (s *Store) ListOrgUsers(ctx context.Context, org string) ([]string, error) {
	return s.strings(ctx, `SELECT user FROM org_users WHERE org=? ORDER BY user`, org)
}

// ---- groups ----

// CreateGroup inserts an empty group.
func (s *Store) CreateGroup(ctx context.Context, org, name string) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO groups(org, name) VALUES(?,?)`, org, name)
	switch {
	case isUnique(err):
		return ErrExists
	case isForeignKey(err):
		return ErrNotFound
	}
	return err
}

// GetGroup returns a group with sorted member lists (never nil).
func (s *Store) GetGroup(ctx context.Context, org, name string) (*Group, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM groups WHERE org=? AND name=?`, org, name).Scan(&n); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, ErrNotFound
	}
	g := &Group{Org: org, Name: name, Users: []string{}, Clients: []string{}, Groups: []string{}}
	rows, err := s.r.QueryContext(ctx, `SELECT kind, member FROM group_members WHERE org=? AND grp=? ORDER BY member`, org, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var kind, m string
		if err := rows.Scan(&kind, &m); err != nil {
			return nil, err
		}
		switch kind {
		case KindUser:
			g.Users = append(g.Users, m)
		case KindClient:
			g.Clients = append(g.Clients, m)
		case "group":
			g.Groups = append(g.Groups, m)
		}
	}
	return g, rows.Err()
}

// PutGroupMembers replaces the given member lists (nil keeps a list as it is).
func (s *Store) PutGroupMembers(ctx context.Context, org, name string, users, clients, groups *[]string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM groups WHERE org=? AND name=?`, org, name).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		for _, l := range []struct {
			kind string
			list *[]string
		}{{KindUser, users}, {KindClient, clients}, {"group", groups}} {
			if l.list == nil {
				continue
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM group_members WHERE org=? AND grp=? AND kind=?`, org, name, l.kind); err != nil {
				return err
			}
			for _, m := range dedupe(*l.list) {
				if _, err := tx.ExecContext(ctx, `INSERT INTO group_members(org, grp, kind, member) VALUES(?,?,?,?)`, org, name, l.kind, m); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// RenameGroup renames a group, keeping its members and its place in other groups.
func (s *Store) RenameGroup(ctx context.Context, org, from, to string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE groups SET name=? WHERE org=? AND name=?`, to, org, from)
		if isUnique(err) {
			return ErrExists
		} else if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE group_members SET member=? WHERE org=? AND kind='group' AND member=?`, to, org, from)
		return err
	})
}

// DeleteGroup removes a group and its memberships (also as a member of other groups).
func (s *Store) DeleteGroup(ctx context.Context, org, name string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM group_members WHERE org=? AND ((grp=?) OR (kind='group' AND member=?))`, org, name, name); err != nil {
			return err
		}
		return affected(tx.ExecContext(ctx, `DELETE FROM groups WHERE org=? AND name=?`, org, name))
	})
}

// ListGroups returns the org's group names, sorted.
func (s *Store) ListGroups(ctx context.Context, org string) ([]string, error) {
	return s.strings(ctx, `SELECT name FROM groups WHERE org=? ORDER BY name`, org)
}

func (s *Store) strings(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
