package identity_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/server/identity"
	"github.com/pushlab/pushlab/server/store"
)

var ctx = context.Background()

func TestBootstrapCreatesOrgAndIsIdempotent(t *testing.T) {
	e := newEnv(t)
	if e.boot.SuperuserKey == nil || e.boot.AdminKey == nil || e.boot.ValidatorKey == nil {
		t.Fatalf("first bootstrap returned keys %v", e.boot)
	}
	guid, err := e.dir.OrgGUID(ctx, testOrg)
	if err != nil || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(guid) {
		t.Fatalf("guid %q, %v", guid, err)
	}
	for g, want := range map[string][3]string{
		"admins":         {"[admin pivotal]", "[]", "[]"},
		"users":          {"[admin pivotal]", "[]", "[]"},
		"clients":        {"[]", "[pushlab-validator]", "[]"},
		"billing-admins": {"[]", "[]", "[]"},
	} {
		grp, err := e.st.GetGroup(ctx, testOrg, g)
		if err != nil {
			t.Fatalf("group %s: %v", g, err)
		}
		if got := [3]string{fmt.Sprint(grp.Users), fmt.Sprint(grp.Clients), fmt.Sprint(grp.Groups)}; got != want {
			t.Errorf("group %s = %v, want %v", g, got, want)
		}
	}
	p, err := e.dir.Principal(ctx, testOrg, "pivotal")
	if err != nil || p.Type != identity.TypeUser || !p.Superuser || p.OrgMember || len(p.Keys) != 1 || !p.Keys[0].Equal(&e.pivotal.key.PublicKey) {
		t.Fatalf("pivotal principal %+v, %v", p, err)
	}
	p, err = e.dir.Principal(ctx, testOrg, "admin")
	if err != nil || p.Type != identity.TypeUser || p.Superuser || !p.OrgMember || !p.Keys[0].Equal(&e.admin.key.PublicKey) {
		t.Fatalf("admin principal %+v, %v", p, err)
	}
	if m, ok, err := e.dir.IsMember(ctx, testOrg, "admins", p); !m || !ok || err != nil {
		t.Fatalf("admin in admins: %v %v %v", m, ok, err)
	}
	p, err = e.dir.Principal(ctx, testOrg, "pushlab-validator")
	if err != nil || p.Type != identity.TypeClient || !p.OrgMember || !p.Keys[0].Equal(&e.validator.key.PublicKey) {
		t.Fatalf("validator principal %+v, %v", p, err)
	}

	// Again, on the same directory and on a new one over the same database: nothing new.
	again, err := e.dir.Bootstrap(ctx, testOrg)
	if err != nil || again.SuperuserKey != nil || again.AdminKey != nil || again.ValidatorKey != nil {
		t.Fatalf("second bootstrap %v, %v", again, err)
	}
	d2 := identity.New(e.st, identity.Options{})
	if again, err = d2.Bootstrap(ctx, testOrg); err != nil || again.SuperuserKey != nil || again.AdminKey != nil || again.ValidatorKey != nil {
		t.Fatalf("bootstrap of a new directory %v, %v", again, err)
	}
	if g2, _ := d2.OrgGUID(ctx, testOrg); g2 != guid {
		t.Fatalf("guid changed: %s then %s", guid, g2)
	}
	if users, _ := e.st.ListOrgUsers(ctx, testOrg); fmt.Sprint(users) != "[admin]" {
		t.Fatalf("org users %v", users)
	}

	// A deleted validator is recreated with a new key; everything else is kept.
	e.must(e.pivotal, "DELETE", e.orgPath("/clients/pushlab-validator"), "", 200)
	again, err = e.dir.Bootstrap(ctx, testOrg)
	if err != nil || again.ValidatorKey == nil || again.AdminKey != nil || again.SuperuserKey != nil {
		t.Fatalf("bootstrap after deleting the validator %v, %v", again, err)
	}
	e.must(actor{"pushlab-validator", mustKey(t, again.ValidatorKey)}, "POST", e.orgPath("/clients"), `{"name":"node1"}`, 201)

	// A second org on the same server: admin joins it too.
	res, err := e.dir.Bootstrap(ctx, "other")
	if err != nil || res.ValidatorKey == nil || res.AdminKey != nil || res.SuperuserKey != nil {
		t.Fatalf("bootstrap of a second org %v, %v", res, err)
	}
	if p, err := e.dir.Principal(ctx, "other", "admin"); err != nil || !p.OrgMember {
		t.Fatalf("admin in the second org %+v %v", p, err)
	}
	if _, err := e.dir.Bootstrap(ctx, "Bad Org"); err == nil {
		t.Fatal("bootstrap accepted an invalid org name")
	}
}

func TestPrincipalLookups(t *testing.T) {
	e := newEnv(t)
	if _, err := e.dir.Principal(ctx, "nope", "admin"); !errors.Is(err, identity.ErrOrgNotFound) {
		t.Fatalf("unknown org: %v", err)
	}
	if _, err := e.dir.OrgGUID(ctx, "nope"); !errors.Is(err, identity.ErrOrgNotFound) {
		t.Fatalf("unknown org guid: %v", err)
	}
	if _, err := e.dir.Principal(ctx, testOrg, "nobody"); !errors.Is(err, identity.ErrPrincipalNotFound) {
		t.Fatalf("unknown principal: %v", err)
	}
	// A user and a client of the same name: the client wins.
	e.createUser("dual", testKeys[0], false)
	p, err := e.dir.Principal(ctx, testOrg, "dual")
	if err != nil || p.Type != identity.TypeUser || p.OrgMember {
		t.Fatalf("user before the client exists: %+v %v", p, err)
	}
	e.createClient("dual", testKeys[1])
	p, err = e.dir.Principal(ctx, testOrg, "dual")
	if err != nil || p.Type != identity.TypeClient || !p.OrgMember || len(p.Keys) != 1 || !p.Keys[0].Equal(&testKeys[1].PublicKey) {
		t.Fatalf("client and user: %+v %v", p, err)
	}
	// The client is per org: another org sees the user.
	if _, err := e.dir.Bootstrap(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	p, err = e.dir.Principal(ctx, "other", "dual")
	if err != nil || p.Type != identity.TypeUser {
		t.Fatalf("in another org: %+v %v", p, err)
	}
	// Association is what makes a user an org member, at once (the cache follows writes).
	e.must(e.pivotal, "DELETE", e.orgPath("/clients/dual"), "", 200)
	p, _ = e.dir.Principal(ctx, testOrg, "dual")
	if p.Type != identity.TypeUser || p.OrgMember {
		t.Fatalf("after deleting the client: %+v", p)
	}
	e.must(e.pivotal, "POST", e.orgPath("/users"), `{"username":"dual"}`, 201)
	if p, _ = e.dir.Principal(ctx, testOrg, "dual"); !p.OrgMember {
		t.Fatalf("after associating: %+v", p)
	}
	e.must(e.pivotal, "DELETE", e.orgPath("/users/dual"), "", 200)
	if p, _ = e.dir.Principal(ctx, testOrg, "dual"); p.OrgMember {
		t.Fatalf("after dissociating: %+v", p)
	}
	e.must(e.pivotal, "DELETE", "/users/dual", "", 200)
	if _, err := e.dir.Principal(ctx, testOrg, "dual"); !errors.Is(err, identity.ErrPrincipalNotFound) {
		t.Fatalf("after deleting the user: %v", err)
	}
}

func TestKeyExpiry(t *testing.T) {
	e := newEnv(t)
	// A client with only a key that expires in an hour, plus a user with two keys.
	exp := e.clock.Now().Add(time.Hour).UTC().Format(chefauth.TimestampLayout)
	r := e.send(req{who: &e.pivotal, api: "1"}, "POST", e.orgPath("/clients"), `{"name":"node1"}`) // keyless at v1
	expect(t, r, 201, fmt.Sprintf(`{"uri":"%s/organizations/pushlab/clients/node1"}`, e.srv.URL))
	r = e.must(e.pivotal, "POST", e.orgPath("/clients/node1/keys"), jsonString(map[string]string{"name": "short", "public_key": pubPEM(testKeys[0]), "expiration_date": exp}), 201)
	if r.header.Get("Location") != e.srv.URL+e.orgPath("/clients/node1/keys/short") {
		t.Fatalf("Location %q", r.header.Get("Location"))
	}
	node := actor{"node1", testKeys[0]}
	p, err := e.dir.Principal(ctx, testOrg, "node1")
	if err != nil || len(p.Keys) != 1 {
		t.Fatalf("before expiry: %+v %v", p, err)
	}
	e.must(node, "GET", e.orgPath("/clients/node1"), "", 200)
	user := e.createUser("rotating", testKeys[1], true)
	e.must(user, "POST", "/users/rotating/keys", jsonString(map[string]string{"name": "old", "public_key": pubPEM(testKeys[2]), "expiration_date": exp}), 201)
	if p, _ := e.dir.Principal(ctx, testOrg, "rotating"); len(p.Keys) != 2 {
		t.Fatalf("user keys before expiry: %d", len(p.Keys))
	}
	oldKey := actor{"rotating", testKeys[2]}
	e.must(oldKey, "GET", "/users/rotating", "", 200)

	e.clock.Add(time.Hour) // expiry is exclusive: at the expiration instant the key is dead
	if _, err := e.dir.Principal(ctx, testOrg, "node1"); !errors.Is(err, identity.ErrPrincipalNotFound) {
		t.Fatalf("after expiry: %v", err)
	}
	expect(t, e.do(node, "GET", e.orgPath("/clients/node1"), ""), 401, errBody("Failed to authenticate as 'node1'. Ensure that your node_name and client key are correct."))
	expect(t, e.send(req{api: "1"}, "GET", e.orgPath("/principals/node1"), ""), 404, `{"not_found":"principal","error":"Cannot find principal node1"}`)
	if p, _ := e.dir.Principal(ctx, testOrg, "rotating"); len(p.Keys) != 1 || !p.Keys[0].Equal(&testKeys[1].PublicKey) {
		t.Fatalf("user keys after expiry: %+v", p)
	}
	expect(t, e.do(oldKey, "GET", "/users/rotating", ""), 401, errBody("Invalid signature for user or client 'rotating'"))
	e.must(user, "GET", "/users/rotating", "", 200)
	r = e.must(user, "GET", "/users/rotating/keys", "", 200)
	want := fmt.Sprintf(`[{"uri":"%s/users/rotating/keys/default","name":"default","expired":false},{"uri":"%s/users/rotating/keys/old","name":"old","expired":true}]`, e.srv.URL, e.srv.URL)
	expect(t, r, 200, want)
	r = e.must(e.pivotal, "GET", e.orgPath("/clients/node1/keys/short"), "", 200)
	if o := r.obj(t); o["expiration_date"] != exp || o["public_key"] != pubPEM(testKeys[0]) {
		t.Fatalf("key %s", r.body)
	}
	// Extending the key brings the client back.
	e.must(e.pivotal, "PUT", e.orgPath("/clients/node1/keys/short"), `{"expiration_date":"infinity"}`, 200)
	e.must(node, "GET", e.orgPath("/clients/node1"), "", 200)
}

func TestNestedGroupsAndCycles(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice", testKeys[0], true)
	e.createClient("alice", testKeys[1]) // same name, different kind
	e.createClient("bob", testKeys[1])
	user := &identity.Principal{Name: "alice", Type: identity.TypeUser}
	client := &identity.Principal{Name: "alice", Type: identity.TypeClient}
	bob := &identity.Principal{Name: "bob", Type: identity.TypeClient}
	check := func(group string, p *identity.Principal, member, exists bool) {
		t.Helper()
		m, ok, err := e.dir.IsMember(ctx, testOrg, group, p)
		if err != nil || m != member || ok != exists {
			t.Fatalf("IsMember(%s, %s %s) = %v, %v, %v; want %v, %v", group, p.Type, p.Name, m, ok, err, member, exists)
		}
	}
	check("nope", user, false, false)
	e.setGroup("c", []string{"alice"}, []string{"bob"}, nil)
	e.setGroup("b", nil, nil, []string{"c"})
	e.setGroup("a", nil, nil, []string{"b", "missing"}) // unknown names are dropped
	if g := e.group("a"); list(g["groups"]) != "[b]" {
		t.Fatalf("group a %v", g)
	}
	check("a", user, true, true)
	check("a", bob, true, true)
	check("a", client, false, true) // the client alice is not the user alice
	// A cycle a → b → c → a with nobody matching ends.
	e.setGroup("c", []string{}, []string{}, []string{"a"})
	check("a", user, false, true)
	check("c", bob, false, true)
	// Self-reference.
	e.setGroup("self", nil, nil, []string{"self"})
	check("self", user, false, true)
	// Removing a nested group from the middle cuts membership.
	e.setGroup("c", []string{"alice"}, nil, nil)
	check("a", user, true, true)
	e.must(e.pivotal, "DELETE", e.orgPath("/groups/b"), "", 200)
	check("a", user, false, true)
	if g := e.group("a"); list(g["groups"]) != "[]" {
		t.Fatalf("deleted group still listed: %v", g)
	}
	// Deleting the user removes it from every group.
	e.setGroup("b", nil, nil, []string{"c"})
	e.setGroup("a", nil, nil, []string{"b"})
	check("a", user, true, true)
	e.must(e.pivotal, "DELETE", "/users/alice", "", 200)
	check("a", user, false, true)
	check("c", client, false, true)
}

func TestRegisterClients(t *testing.T) {
	e := newEnv(t)
	names := make([]string, 9000)
	for i := range names {
		names[i] = fmt.Sprintf("node-%05d", i)
	}
	start := time.Now()
	if err := e.dir.RegisterClients(ctx, testOrg, names, &testKeys[0].PublicKey); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("registered %d clients in %v", len(names), took)
	if took > 20*time.Second {
		t.Fatalf("registering 9,000 clients took %v", took)
	}
	g, err := e.st.GetGroup(ctx, testOrg, "clients")
	if err != nil || len(g.Clients) != 9001 {
		t.Fatalf("clients group has %d members, %v", len(g.Clients), err)
	}
	for _, n := range []string{names[0], names[4500], names[8999]} {
		p, err := e.dir.Principal(ctx, testOrg, n)
		if err != nil || p.Type != identity.TypeClient || !p.Keys[0].Equal(&testKeys[0].PublicKey) {
			t.Fatalf("principal %s: %+v %v", n, p, err)
		}
		if m, _, _ := e.dir.IsMember(ctx, testOrg, "clients", p); !m {
			t.Fatalf("%s not in clients", n)
		}
	}
	e.must(actor{names[17], testKeys[0]}, "GET", e.orgPath("/clients/"+names[17]), "", 200)
	// All or nothing.
	if err := e.dir.RegisterClients(ctx, testOrg, []string{"fresh", names[3]}, &testKeys[0].PublicKey); !errors.Is(err, store.ErrExists) {
		t.Fatalf("registering an existing client: %v", err)
	}
	if _, err := e.dir.Principal(ctx, testOrg, "fresh"); !errors.Is(err, identity.ErrPrincipalNotFound) {
		t.Fatalf("partial registration: %v", err)
	}
	if err := e.dir.RegisterClients(ctx, "nope", []string{"x"}, &testKeys[0].PublicKey); !errors.Is(err, identity.ErrOrgNotFound) {
		t.Fatalf("unknown org: %v", err)
	}
	if err := e.dir.RegisterClients(ctx, testOrg, []string{"bad name"}, &testKeys[0].PublicKey); err == nil {
		t.Fatal("accepted an invalid name")
	}
}

// TestClientsOneByOne: clients created one at a time are in the clients group at once for
// lookups, and reach the store within the flush delay.
func TestClientsOneByOne(t *testing.T) {
	e := newEnv(t)
	pem := pubPEM(testKeys[0])
	var names []string
	start := time.Now()
	for i := range 300 {
		n := fmt.Sprintf("n%03d", i)
		names = append(names, n)
		e.must(e.pivotal, "POST", e.orgPath("/clients"), jsonString(map[string]string{"name": n, "public_key": pem}), 201)
	}
	t.Logf("300 single POSTs in %v", time.Since(start))
	g := e.group("clients")
	if cl := g["clients"].([]any); len(cl) != 301 {
		t.Fatalf("clients group lists %d", len(cl))
	}
	if m, _, _ := e.dir.IsMember(ctx, testOrg, "clients", &identity.Principal{Name: "n123", Type: identity.TypeClient}); !m {
		t.Fatal("n123 not in clients")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		sg, err := e.st.GetGroup(ctx, testOrg, "clients")
		if err != nil {
			t.Fatal(err)
		}
		if len(sg.Clients) == 301 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stored clients group has %d members", len(sg.Clients))
		}
		time.Sleep(10 * time.Millisecond) // poll interval of a deadline loop
	}
	// Deleting a client (also one still pending) removes it from the group.
	e.must(e.pivotal, "POST", e.orgPath("/clients"), jsonString(map[string]string{"name": "late", "public_key": pem}), 201)
	e.must(e.pivotal, "DELETE", e.orgPath("/clients/late"), "", 200)
	e.must(e.pivotal, "DELETE", e.orgPath("/clients/n007"), "", 200)
	if err := e.dir.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	sg, _ := e.st.GetGroup(ctx, testOrg, "clients")
	if len(sg.Clients) != 300 {
		t.Fatalf("after deletes the stored group has %d members", len(sg.Clients))
	}
	for _, c := range sg.Clients {
		if c == "late" || c == "n007" {
			t.Fatalf("deleted client %s still in the group", c)
		}
	}
	// A PUT on the clients group with a pending addition keeps it when clients is not given.
	e.must(e.pivotal, "POST", e.orgPath("/clients"), jsonString(map[string]string{"name": "pending1", "public_key": pem}), 201)
	e.must(e.pivotal, "PUT", e.orgPath("/groups/clients"), `{"groupname":"clients","actors":{"users":["admin"]}}`, 200)
	g = e.group("clients")
	if fmt.Sprint(g["users"]) != "[admin]" || !containsAny(g["clients"], "pending1") {
		t.Fatalf("after PUT users only: %v", g)
	}
}

func containsAny(v any, s string) bool {
	for _, x := range v.([]any) {
		if x == s {
			return true
		}
	}
	return false
}

// TestCacheNeverServesStaleAfterWrite: lookups racing writes never leave the cache behind a write
// that has returned.
func TestCacheNeverServesStaleAfterWrite(t *testing.T) {
	e := newEnv(t)
	e.createClient("racer", testKeys[0])
	e.setGroup("g", nil, nil, nil)
	stop := make(chan struct{})
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			p := &identity.Principal{Name: "racer", Type: identity.TypeClient}
			for {
				select {
				case <-stop:
					return
				default:
				}
				e.dir.Principal(ctx, testOrg, "racer")
				e.dir.IsMember(ctx, testOrg, "g", p)
			}
		}()
	}
	for i := range 40 {
		k := testKeys[i%len(testKeys)]
		e.must(e.pivotal, "PUT", e.orgPath("/clients/racer"), jsonString(map[string]string{"public_key": pubPEM(k)}), 200)
		p, err := e.dir.Principal(ctx, testOrg, "racer")
		if err != nil || len(p.Keys) != 1 || !p.Keys[0].Equal(&k.PublicKey) {
			t.Fatalf("iteration %d: stale principal %+v %v", i, p, err)
		}
		clients := []string{}
		if i%2 == 0 {
			clients = []string{"racer"}
		}
		e.setGroup("g", nil, clients, nil)
		m, _, err := e.dir.IsMember(ctx, testOrg, "g", &identity.Principal{Name: "racer", Type: identity.TypeClient})
		if err != nil || m != (i%2 == 0) {
			t.Fatalf("iteration %d: stale membership %v %v", i, m, err)
		}
	}
	close(stop)
	for range 4 {
		<-done
	}
}
