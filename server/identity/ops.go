package identity

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"time"

	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/server/store"
)

// Every write takes writeMu, commits to the store, then drops the cache entries it touched.

func newGUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func validatorName(org string) string { return org + "-validator" }

func defaultKey(pub *rsa.PublicKey) *store.Key {
	return &store.Key{Name: "default", PublicKeyPEM: string(chefauth.EncodePublicKeyPEM(pub))}
}

// createOrg creates the org as erchef's org creator does: GUID, the default groups, the
// validator client (in "clients") with a fresh key, and the creating user in admins and users.
// It returns the validator's private key.
func (d *Directory) createOrg(ctx context.Context, name, fullName string, creator *requestor) (*rsa.PrivateKey, error) {
	key, err := chefauth.GenerateKey()
	if err != nil {
		return nil, err
	}
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	defer d.cache.dropOrg(name)
	if err := d.st.CreateOrg(ctx, store.Org{Name: name, FullName: fullName, GUID: newGUID(), CreatedAt: d.now().UTC()}); err != nil {
		return nil, err
	}
	d.cache.change(func() { delete(d.cache.pending, name) })
	for _, g := range defaultGroups {
		if err := d.st.CreateGroup(ctx, name, g); err != nil && !errors.Is(err, store.ErrExists) {
			return nil, err
		}
	}
	if err := d.st.CreateClient(ctx, store.Client{Org: name, Name: validatorName(name), Validator: true}, defaultKey(&key.PublicKey)); err != nil {
		return nil, err
	}
	if err := d.addGroupMembersLocked(ctx, name, clientsGroup, nil, []string{validatorName(name)}); err != nil {
		return nil, err
	}
	if creator != nil && creator.kind == TypeUser {
		for _, g := range []string{adminsGroup, usersGroup} {
			if err := d.addGroupMembersLocked(ctx, name, g, []string{creator.name}, nil); err != nil {
				return nil, err
			}
		}
	}
	return key, nil
}

// repairOrg recreates the default groups and the validator client of an existing org when they
// are missing; it returns the new validator key, or nil when the validator existed.
func (d *Directory) repairOrg(ctx context.Context, org string) (*rsa.PrivateKey, error) {
	if _, err := d.st.GetClient(ctx, org, validatorName(org)); err == nil {
		d.writeMu.Lock()
		defer d.writeMu.Unlock()
		defer d.cache.dropOrg(org)
		return nil, d.ensureGroupsLocked(ctx, org)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	key, err := chefauth.GenerateKey()
	if err != nil {
		return nil, err
	}
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	defer d.cache.dropOrg(org)
	if err := d.ensureGroupsLocked(ctx, org); err != nil {
		return nil, err
	}
	if err := d.st.CreateClient(ctx, store.Client{Org: org, Name: validatorName(org), Validator: true}, defaultKey(&key.PublicKey)); err != nil {
		return nil, err
	}
	return key, d.addGroupMembersLocked(ctx, org, clientsGroup, nil, []string{validatorName(org)})
}

func (d *Directory) ensureGroupsLocked(ctx context.Context, org string) error {
	for _, g := range defaultGroups {
		if err := d.st.CreateGroup(ctx, org, g); err != nil && !errors.Is(err, store.ErrExists) {
			return err
		}
	}
	return nil
}

func (d *Directory) deleteOrg(ctx context.Context, org string) error {
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	d.cache.change(func() { delete(d.cache.pending, org) })
	defer d.cache.dropAll()
	return d.st.DeleteOrg(ctx, org)
}

// ---- users ----

func (d *Directory) createUser(ctx context.Context, u store.User, key *store.Key) error {
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	defer d.cache.dropUser(u.Name)
	return d.st.CreateUser(ctx, u, key)
}

func (d *Directory) deleteUser(ctx context.Context, name string) error {
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	defer d.cache.dropUser(name)
	return d.st.DeleteUser(ctx, name)
}

// associate adds the user to the org and to its users group (erchef adds the user's own group
// to "users"; membership is direct here).
func (d *Directory) associate(ctx context.Context, org, user string) error {
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	defer d.cache.dropMember(org, user)
	if err := d.st.AddOrgUser(ctx, org, user); err != nil {
		return err
	}
	return d.addGroupMembersLocked(ctx, org, usersGroup, []string{user}, nil)
}

// dissociate removes the user from the org and from its users group.
func (d *Directory) dissociate(ctx context.Context, org, user string) error {
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	defer d.cache.dropMember(org, user)
	if err := d.st.RemoveOrgUser(ctx, org, user); err != nil {
		return err
	}
	g, err := d.st.GetGroup(ctx, org, usersGroup)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	users := remove(g.Users, user)
	return d.st.PutGroupMembers(ctx, org, usersGroup, &users, nil, nil)
}

func remove(list []string, s string) []string {
	out := make([]string, 0, len(list))
	for _, v := range list {
		if v != s {
			out = append(out, v)
		}
	}
	return out
}

// ---- clients ----

// createClients inserts the clients and makes them members of the org's "clients" group:
// lazily (pending, written within pendingFlushDelay) when lazy, else before returning.
func (d *Directory) createClients(ctx context.Context, org string, cs []store.ClientWithKey, lazy bool) error {
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	defer d.cache.change(func() {
		for _, n := range names {
			delete(d.cache.clients[org], n)
		}
		delete(d.cache.groups, org)
	})
	if err := d.st.CreateClients(ctx, cs); err != nil {
		return err
	}
	if lazy && d.clientsGroupSize[org] >= lazyGroupSize {
		d.addPendingLocked(org, names)
		return nil
	}
	return d.flushOrgLocked(ctx, org, names)
}

func (d *Directory) deleteClient(ctx context.Context, org, name string) error {
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	d.cache.change(func() { delete(d.cache.pending[org], name) })
	defer d.cache.dropClient(org, name)
	return d.st.DeleteClient(ctx, org, name)
}

// ---- groups ----

func (d *Directory) createGroup(ctx context.Context, org, name string) error {
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	defer d.cache.dropGroups(org)
	return d.st.CreateGroup(ctx, org, name)
}

func (d *Directory) deleteGroup(ctx context.Context, org, name string) error {
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	defer d.cache.dropGroups(org)
	if err := d.flushOrgLocked(ctx, org, nil); err != nil {
		return err
	}
	return d.st.DeleteGroup(ctx, org, name)
}

// putGroup replaces the given member lists (nil keeps one) and renames the group when newName
// differs from name.
func (d *Directory) putGroup(ctx context.Context, org, name, newName string, users, clients, groups *[]string) error {
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	defer d.cache.dropGroups(org)
	if err := d.flushOrgLocked(ctx, org, nil); err != nil {
		return err
	}
	if err := d.st.PutGroupMembers(ctx, org, name, users, clients, groups); err != nil {
		return err
	}
	if newName != "" && newName != name {
		return d.st.RenameGroup(ctx, org, name, newName)
	}
	return nil
}

// addGroupMembers adds users and clients to a (small) group.
func (d *Directory) addGroupMembers(ctx context.Context, org, group string, users, clients []string) error {
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	defer d.cache.dropGroups(org)
	return d.addGroupMembersLocked(ctx, org, group, users, clients)
}

func (d *Directory) addGroupMembersLocked(ctx context.Context, org, group string, users, clients []string) error {
	g, err := d.st.GetGroup(ctx, org, group)
	if err != nil {
		return err
	}
	var u, c *[]string
	if len(users) > 0 {
		l := append(g.Users, users...)
		u = &l
	}
	if len(clients) > 0 {
		l := append(g.Clients, clients...)
		c = &l
	}
	return d.st.PutGroupMembers(ctx, org, group, u, c, nil)
}

// ---- pending "clients" group additions ----
//
// Writing a group replaces its whole member list, so adding clients one at a time to a group
// of thousands would cost a rewrite each. Once the group is large (lazyGroupSize), clients
// created alone are therefore recorded as pending: lookups (groupRec) include them at once,
// and they are written in one go within pendingFlushDelay, before any other write to the
// org's groups, or by Flush.

// lazyGroupSize is the "clients" group size from which single additions are deferred.
const lazyGroupSize = 64

func (d *Directory) addPendingLocked(org string, names []string) {
	d.cache.change(func() {
		m := d.cache.pending[org]
		if m == nil {
			m = map[string]struct{}{}
			d.cache.pending[org] = m
		}
		for _, n := range names {
			m[n] = struct{}{}
		}
		delete(d.cache.groups, org)
	})
	if d.flushTimer == nil {
		// Rewriting a large group takes a while and blocks other writes: keep that under a
		// fifth of the time.
		d.flushTimer = time.AfterFunc(max(pendingFlushDelay, 4*d.lastFlush), d.timerFlush)
	}
}

func (d *Directory) timerFlush() {
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	d.flushTimer = nil
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	if err := d.flushAllLocked(ctx); err != nil {
		d.log.Warn("writing new clients into their clients group", "err", err)
	}
	d.lastFlush = time.Since(start)
}

func (d *Directory) flushAllLocked(ctx context.Context) error {
	d.cache.mu.RLock()
	orgs := make([]string, 0, len(d.cache.pending))
	for org := range d.cache.pending {
		orgs = append(orgs, org)
	}
	d.cache.mu.RUnlock()
	var errs []error
	for _, org := range orgs {
		errs = append(errs, d.flushOrgLocked(ctx, org, nil))
	}
	return errors.Join(errs...)
}

// flushOrgLocked writes the org's pending clients, plus extra, into its "clients" group.
func (d *Directory) flushOrgLocked(ctx context.Context, org string, extra []string) error {
	d.cache.mu.RLock()
	names := make([]string, 0, len(d.cache.pending[org])+len(extra))
	for n := range d.cache.pending[org] {
		names = append(names, n)
	}
	d.cache.mu.RUnlock()
	names = append(names, extra...)
	if len(names) == 0 {
		return nil
	}
	g, err := d.st.GetGroup(ctx, org, clientsGroup)
	switch {
	case errors.Is(err, store.ErrNotFound): // the group was deleted: nothing to join
	case err != nil:
		return err
	default:
		all := append(g.Clients, names...)
		if err := d.st.PutGroupMembers(ctx, org, clientsGroup, nil, &all, nil); err != nil {
			return err
		}
		d.clientsGroupSize[org] = len(all)
	}
	d.cache.change(func() {
		delete(d.cache.pending, org)
		delete(d.cache.groups, org)
	})
	return nil
}

// ---- keys ----

func (d *Directory) dropActor(kind, org, owner string) {
	if kind == store.KindUser {
		d.cache.dropUser(owner)
	} else {
		d.cache.dropClient(org, owner)
	}
}

func (d *Directory) addKey(ctx context.Context, kind, org, owner string, k store.Key) error {
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	defer d.dropActor(kind, org, owner)
	return d.st.AddKey(ctx, kind, org, owner, k)
}

// replaceKey writes k in place of the key named old (a rename when the names differ).
func (d *Directory) replaceKey(ctx context.Context, kind, org, owner, old string, k store.Key) error {
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	defer d.dropActor(kind, org, owner)
	if old == k.Name {
		return d.st.PutKey(ctx, kind, org, owner, k)
	}
	if err := d.st.AddKey(ctx, kind, org, owner, k); err != nil {
		return err
	}
	return d.st.DeleteKey(ctx, kind, org, owner, old)
}

func (d *Directory) deleteKey(ctx context.Context, kind, org, owner, name string) error {
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	defer d.dropActor(kind, org, owner)
	return d.st.DeleteKey(ctx, kind, org, owner, name)
}
