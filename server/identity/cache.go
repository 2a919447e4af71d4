package identity

import (
	"context"
	"crypto/rsa"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/server/store"
)

// maxCacheEntries bounds the read cache; when it is exceeded the cache starts over.
const maxCacheEntries = 1 << 18

// keyRec is one stored key with its parsed public key.
type keyRec struct {
	name    string
	pem     string
	pub     *rsa.PublicKey
	expires time.Time // zero = infinity
}

func (k keyRec) expired(now time.Time) bool { return !k.expires.IsZero() && !now.Before(k.expires) }

// actorRec is what the store holds about a user or a client, as cached.
type actorRec struct {
	exists    bool
	validator bool
	keys      []keyRec
	pubs      []*rsa.PublicKey // every key, for the common case that none expires
	expiring  bool             // some key has an expiration date
}

// live returns the unexpired public keys at now.
func (a *actorRec) live(now time.Time) []*rsa.PublicKey {
	if !a.expiring {
		return a.pubs
	}
	out := make([]*rsa.PublicKey, 0, len(a.keys))
	for _, k := range a.keys {
		if !k.expired(now) {
			out = append(out, k.pub)
		}
	}
	return out
}

// liveKeys returns the unexpired key records at now.
func (a *actorRec) liveKeys(now time.Time) []keyRec {
	out := make([]keyRec, 0, len(a.keys))
	for _, k := range a.keys {
		if !k.expired(now) {
			out = append(out, k)
		}
	}
	return out
}

type orgRec struct {
	exists         bool
	name, fullName string
	guid           string
}

// groupRec is a group as cached: member sets for lookups, sorted lists for rendering. The
// org's "clients" group also holds the clients whose addition is still pending (see pending).
type groupRec struct {
	exists                 bool
	users, clients, groups map[string]struct{}
}

func (g *groupRec) sorted() (users, clients, groups []string) {
	return sortedKeys(g.users), sortedKeys(g.clients), sortedKeys(g.groups)
}

func sortedKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// cache is the read cache in front of the store. Every load records the generation it started
// at and is only kept if no write happened meanwhile, so a load racing a write never stores
// stale data; writes drop what they touch after committing.
type cache struct {
	mu      sync.RWMutex
	gen     uint64
	n       int
	orgs    map[string]*orgRec
	users   map[string]*actorRec
	clients map[string]map[string]*actorRec // org → client
	members map[string]map[string]bool      // org → user → associated
	groups  map[string]map[string]*groupRec // org → group
	// pending holds, per org, clients created one at a time that are members of the org's
	// "clients" group but not yet written to it (see Directory.flushPending).
	pending map[string]map[string]struct{}
}

func newCache() *cache {
	c := &cache{pending: map[string]map[string]struct{}{}}
	c.reset()
	return c
}

func (c *cache) reset() {
	c.orgs = map[string]*orgRec{}
	c.users = map[string]*actorRec{}
	c.clients = map[string]map[string]*actorRec{}
	c.members = map[string]map[string]bool{}
	c.groups = map[string]map[string]*groupRec{}
	c.n = 0
}

// change runs f under the write lock and starts a new generation.
func (c *cache) change(f func()) {
	c.mu.Lock()
	c.gen++
	f()
	c.mu.Unlock()
}

// keep stores a loaded value if no write happened since gen.
func (c *cache) keep(gen uint64, f func()) {
	c.mu.Lock()
	if c.gen == gen {
		if c.n >= maxCacheEntries {
			c.reset()
		}
		c.n++
		f()
	}
	c.mu.Unlock()
}

func (c *cache) dropOrg(org string) {
	c.change(func() {
		delete(c.orgs, org)
		delete(c.clients, org)
		delete(c.members, org)
		delete(c.groups, org)
	})
}

func (c *cache) dropUser(name string) {
	c.change(func() {
		delete(c.users, name)
		for _, m := range c.members {
			delete(m, name)
		}
		c.groups = map[string]map[string]*groupRec{} // the user left every group
	})
}

func (c *cache) dropClient(org, name string) {
	c.change(func() {
		delete(c.clients[org], name)
		delete(c.groups, org)
	})
}

func (c *cache) dropMember(org, user string) {
	c.change(func() {
		delete(c.members[org], user)
		delete(c.groups, org)
	})
}

func (c *cache) dropGroups(org string) {
	c.change(func() { delete(c.groups, org) })
}

func (c *cache) dropAll() {
	c.change(c.reset)
}

// ---- loaders: cached reads ----

func (d *Directory) orgRec(ctx context.Context, org string) (*orgRec, error) {
	c := d.cache
	c.mu.RLock()
	r, ok := c.orgs[org]
	gen := c.gen
	c.mu.RUnlock()
	if ok {
		return r, nil
	}
	o, err := d.st.GetOrg(ctx, org)
	switch {
	case errors.Is(err, store.ErrNotFound):
		r = &orgRec{name: org}
	case err != nil:
		return nil, err
	default:
		r = &orgRec{exists: true, name: o.Name, fullName: o.FullName, guid: o.GUID}
	}
	c.keep(gen, func() { c.orgs[org] = r })
	return r, nil
}

func (d *Directory) userRec(ctx context.Context, name string) (*actorRec, error) {
	c := d.cache
	c.mu.RLock()
	r, ok := c.users[name]
	gen := c.gen
	c.mu.RUnlock()
	if ok {
		return r, nil
	}
	r = &actorRec{}
	_, err := d.st.GetUser(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		r.exists = true
		if err := d.loadKeys(ctx, r, store.KindUser, "", name); err != nil {
			return nil, err
		}
	}
	c.keep(gen, func() { c.users[name] = r })
	return r, nil
}

func (d *Directory) clientRec(ctx context.Context, org, name string) (*actorRec, error) {
	c := d.cache
	c.mu.RLock()
	r, ok := c.clients[org][name]
	gen := c.gen
	c.mu.RUnlock()
	if ok {
		return r, nil
	}
	r = &actorRec{}
	cl, err := d.st.GetClient(ctx, org, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		r.exists, r.validator = true, cl.Validator
		if err := d.loadKeys(ctx, r, store.KindClient, org, name); err != nil {
			return nil, err
		}
	}
	c.keep(gen, func() {
		m := c.clients[org]
		if m == nil {
			m = map[string]*actorRec{}
			c.clients[org] = m
		}
		m[name] = r
	})
	return r, nil
}

func (d *Directory) loadKeys(ctx context.Context, r *actorRec, kind, org, owner string) error {
	keys, err := d.st.ListKeys(ctx, kind, org, owner)
	if err != nil {
		return err
	}
	for _, k := range keys {
		pub, err := chefauth.ParsePublicKeyPEM([]byte(k.PublicKeyPEM))
		if err != nil {
			d.log.Warn("unusable stored public key", "kind", kind, "org", org, "owner", owner, "key", k.Name, "err", err)
			continue
		}
		r.keys = append(r.keys, keyRec{name: k.Name, pem: k.PublicKeyPEM, pub: pub, expires: k.Expires})
		r.pubs = append(r.pubs, pub)
		if !k.Expires.IsZero() {
			r.expiring = true
		}
	}
	return nil
}

func (d *Directory) memberRec(ctx context.Context, org, user string) (bool, error) {
	c := d.cache
	c.mu.RLock()
	m, ok := c.members[org][user]
	gen := c.gen
	c.mu.RUnlock()
	if ok {
		return m, nil
	}
	m, err := d.st.IsOrgMember(ctx, org, user)
	if err != nil {
		return false, err
	}
	c.keep(gen, func() {
		mm := c.members[org]
		if mm == nil {
			mm = map[string]bool{}
			c.members[org] = mm
		}
		mm[user] = m
	})
	return m, nil
}

func (d *Directory) groupRec(ctx context.Context, org, name string) (*groupRec, error) {
	c := d.cache
	c.mu.RLock()
	r, ok := c.groups[org][name]
	gen := c.gen
	var pending []string
	if !ok && name == clientsGroup {
		// Read before the store: a flush commits and only then clears pending.
		for n := range c.pending[org] {
			pending = append(pending, n)
		}
	}
	c.mu.RUnlock()
	if ok {
		return r, nil
	}
	g, err := d.st.GetGroup(ctx, org, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		r = &groupRec{}
	case err != nil:
		return nil, err
	default:
		r = &groupRec{exists: true, users: set(g.Users), clients: set(g.Clients), groups: set(g.Groups)}
		for _, n := range pending {
			r.clients[n] = struct{}{}
		}
	}
	c.keep(gen, func() {
		m := c.groups[org]
		if m == nil {
			m = map[string]*groupRec{}
			c.groups[org] = m
		}
		m[name] = r
	})
	return r, nil
}

func set(list []string) map[string]struct{} {
	m := make(map[string]struct{}, len(list))
	for _, s := range list {
		m[s] = struct{}{}
	}
	return m
}
