package identity

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/server/store"
)

// Errors of the directory lookups.
var (
	ErrOrgNotFound       = errors.New("organization not found")
	ErrPrincipalNotFound = errors.New("principal not found")
)

// Well-known names.
const (
	// SuperuserName is the Chef server superuser: it bypasses org membership and every ACL.
	SuperuserName = "pivotal"
	// AdminName is the org administrator Bootstrap creates.
	AdminName = "admin"
)

// The groups every org is created with (chef-api.md §2.1).
const (
	adminsGroup        = "admins"
	billingAdminsGroup = "billing-admins"
	clientsGroup       = "clients"
	usersGroup         = "users"
)

var defaultGroups = []string{adminsGroup, billingAdminsGroup, clientsGroup, usersGroup}

// pendingFlushDelay is how long a client created alone may wait before it is written into its
// org's "clients" group (lookups see it there at once; see flushPending).
const pendingFlushDelay = 500 * time.Millisecond

// Options configures a Directory.
type Options struct {
	Now      func() time.Time // nil = time.Now
	AuthSkew time.Duration    // largest accepted X-Ops-Timestamp distance; 0 = chefauth.AuthSkew
	Log      *slog.Logger     // nil = discard
}

// Directory is the identity service: what the Push Jobs server asks the Chef server (org GUIDs,
// principals, group membership) and the Chef Server API endpoints that manage it.
type Directory struct {
	st    *store.Store
	now   func() time.Time
	skew  time.Duration
	log   *slog.Logger
	cache *cache

	// writeMu serialises every write, so that a write and the cache entries it drops, and the
	// pending "clients" group additions, never interleave with another write.
	writeMu    sync.Mutex
	flushTimer *time.Timer
	lastFlush  time.Duration // how long the last timed flush took
	// clientsGroupSize is, per org, the size of the "clients" group at its last write.
	clientsGroupSize map[string]int
}

// New returns the directory over st.
func New(st *store.Store, opts Options) *Directory {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.AuthSkew <= 0 {
		opts.AuthSkew = chefauth.AuthSkew
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Directory{st: st, now: opts.Now, skew: opts.AuthSkew, log: opts.Log, cache: newCache(), clientsGroupSize: map[string]int{}}
}

// Principal is a user or client as the Push Jobs server sees it.
type Principal struct {
	Name      string
	Type      string           // "user" or "client"
	Keys      []*rsa.PublicKey // unexpired keys; shared, do not modify
	OrgMember bool             // clients: always; users: associated with the org
	Superuser bool
}

// Principal types.
const (
	TypeUser   = "user"
	TypeClient = "client"
)

// OrgGUID returns the org's 32-hex-digit GUID.
func (d *Directory) OrgGUID(ctx context.Context, org string) (string, error) {
	o, err := d.orgRec(ctx, org)
	if err != nil {
		return "", err
	}
	if !o.exists {
		return "", ErrOrgNotFound
	}
	return o.guid, nil
}

// Principal looks name up in org: the org's client of that name if it has an unexpired key,
// else the global user of that name if it has one (as the principals endpoint at API v0).
func (d *Directory) Principal(ctx context.Context, org, name string) (*Principal, error) {
	o, err := d.orgRec(ctx, org)
	if err != nil {
		return nil, err
	}
	if !o.exists {
		return nil, ErrOrgNotFound
	}
	now := d.now()
	c, err := d.clientRec(ctx, org, name)
	if err != nil {
		return nil, err
	}
	if c.exists {
		if keys := c.live(now); len(keys) > 0 {
			return &Principal{Name: name, Type: TypeClient, Keys: keys, OrgMember: true}, nil
		}
	}
	u, err := d.userRec(ctx, name)
	if err != nil {
		return nil, err
	}
	if u.exists {
		if keys := u.live(now); len(keys) > 0 {
			member, err := d.memberRec(ctx, org, name)
			if err != nil {
				return nil, err
			}
			return &Principal{Name: name, Type: TypeUser, Keys: keys, OrgMember: member, Superuser: name == SuperuserName}, nil
		}
	}
	return nil, ErrPrincipalNotFound
}

// IsMember reports whether p is in the org's group, directly or through nested groups (a group
// met twice counts as not containing p, so cycles end), and whether the group exists. A nested
// group that does not exist contains nobody.
func (d *Directory) IsMember(ctx context.Context, org, group string, p *Principal) (member, exists bool, err error) {
	g, err := d.groupRec(ctx, org, group)
	if err != nil || !g.exists {
		return false, false, err
	}
	seen := map[string]bool{group: true}
	stack := []*groupRec{g}
	for len(stack) > 0 {
		g := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		var in bool
		switch p.Type {
		case TypeUser:
			_, in = g.users[p.Name]
		case TypeClient:
			_, in = g.clients[p.Name]
		}
		if in {
			return true, true, nil
		}
		for sub := range g.groups {
			if seen[sub] {
				continue
			}
			seen[sub] = true
			sg, err := d.groupRec(ctx, org, sub)
			if err != nil {
				return false, true, err
			}
			if sg.exists {
				stack = append(stack, sg)
			}
		}
	}
	return false, true, nil
}

// BootstrapResult holds the PEM private keys of the principals Bootstrap created; a key is nil
// when its principal already existed.
type BootstrapResult struct {
	SuperuserKey, AdminKey, ValidatorKey []byte
}

// Bootstrap makes sure the superuser "pivotal", the org (with its groups admins, billing-admins,
// clients and users, and its validator client ORG-validator) and the org administrator "admin"
// (associated, in admins and users) exist. It is idempotent: a later start reuses everything.
func (d *Directory) Bootstrap(ctx context.Context, org string) (BootstrapResult, error) {
	var res BootstrapResult
	if !orgNameRE.MatchString(org) {
		return res, fmt.Errorf("invalid organization name %q", org)
	}
	pivotal, err := d.ensureUser(ctx, store.User{Name: SuperuserName, Email: "root@localhost", DisplayName: "Chef Server Superuser", FirstName: "Chef", LastName: "Server"})
	if err != nil {
		return res, fmt.Errorf("superuser: %w", err)
	}
	res.SuperuserKey = pivotal

	orgCreated := false
	if _, err := d.st.GetOrg(ctx, org); errors.Is(err, store.ErrNotFound) {
		key, err := d.createOrg(ctx, org, org, &requestor{name: SuperuserName, kind: TypeUser})
		if err != nil && !errors.Is(err, store.ErrExists) {
			return res, fmt.Errorf("creating org: %w", err)
		}
		if err == nil {
			res.ValidatorKey = chefauth.EncodePrivateKeyPEM(key)
			orgCreated = true
		}
	} else if err != nil {
		return res, err
	}
	if !orgCreated {
		key, err := d.repairOrg(ctx, org)
		if err != nil {
			return res, fmt.Errorf("checking org: %w", err)
		}
		if key != nil {
			res.ValidatorKey = chefauth.EncodePrivateKeyPEM(key)
		}
	}

	admin, err := d.ensureUser(ctx, store.User{Name: AdminName, Email: "admin@localhost", DisplayName: "admin", FirstName: "admin", LastName: "admin"})
	if err != nil {
		return res, fmt.Errorf("admin user: %w", err)
	}
	res.AdminKey = admin
	if admin != nil || orgCreated {
		if err := d.associate(ctx, org, AdminName); err != nil && !errors.Is(err, store.ErrExists) {
			return res, fmt.Errorf("associating admin: %w", err)
		}
		for _, g := range []string{adminsGroup, usersGroup} {
			if err := d.addGroupMembers(ctx, org, g, []string{AdminName}, nil); err != nil {
				return res, fmt.Errorf("adding admin to %s: %w", g, err)
			}
		}
	}
	return res, nil
}

// ensureUser creates the user with a fresh key when missing and returns its private key PEM;
// nil when the user already existed.
func (d *Directory) ensureUser(ctx context.Context, u store.User) ([]byte, error) {
	if _, err := d.st.GetUser(ctx, u.Name); err == nil {
		return nil, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	key, err := chefauth.GenerateKey()
	if err != nil {
		return nil, err
	}
	u.CreatedAt = d.now().UTC()
	if err := d.createUser(ctx, u, &store.Key{Name: "default", PublicKeyPEM: string(chefauth.EncodePublicKeyPEM(&key.PublicKey))}); err != nil {
		return nil, err
	}
	return chefauth.EncodePrivateKeyPEM(key), nil
}

// RegisterClients creates many plain clients of org sharing one public key (as their "default"
// key) in one transaction, and puts them in the org's "clients" group. Nothing is created when
// any of them exists (store.ErrExists) or the org does not (ErrOrgNotFound).
func (d *Directory) RegisterClients(ctx context.Context, org string, names []string, pub *rsa.PublicKey) error {
	if pub == nil {
		return errors.New("no public key")
	}
	for _, n := range names {
		if !clientNameRE.MatchString(n) {
			return fmt.Errorf("invalid client name %q", n)
		}
	}
	pem := string(chefauth.EncodePublicKeyPEM(pub))
	cs := make([]store.ClientWithKey, len(names))
	for i, n := range names {
		cs[i] = store.ClientWithKey{Client: store.Client{Org: org, Name: n}, Key: &store.Key{Name: "default", PublicKeyPEM: pem}}
	}
	err := d.createClients(ctx, org, cs, false)
	if errors.Is(err, store.ErrNotFound) {
		return ErrOrgNotFound
	}
	return err
}

// Flush writes pending "clients" group additions to the store now (they are otherwise written
// within pendingFlushDelay of the first one).
func (d *Directory) Flush(ctx context.Context) error {
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	return d.flushAllLocked(ctx)
}

// Handler returns the Chef Server API endpoints (see chefapi.go).
func (d *Directory) Handler() http.Handler { return &handler{d: d} }
