package identity_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/server/identity"
)

// TestPedantPlatformFlow drives the exact Chef API traffic of pedant's platform setup and
// teardown (chef-api.md §1.2) and of the pushy suite's helpers (§3), at API version 0.
func TestPedantPlatformFlow(t *testing.T) {
	e := newEnv(t)
	// 1. create_org as pivotal.
	r := e.must(e.pivotal, "POST", "/organizations", `{"name":"pedant-org","full_name":"pedant-org","org_type":"Business"}`, 201)
	o := r.obj(t)
	if o["uri"] != e.srv.URL+"/organizations/pedant-org" || r.header.Get("Location") != o["uri"] || o["clientname"] != "pedant-org-validator" ||
		!strings.HasPrefix(o["private_key"].(string), "-----BEGIN RSA PRIVATE KEY-----") {
		t.Fatalf("create org: %s", r.body)
	}
	validator := actor{"pedant-org-validator", mustKey(t, []byte(o["private_key"].(string)))}
	expect(t, e.do(e.pivotal, "POST", "/organizations", `{"name":"pedant-org","full_name":"x"}`), 409, errString("Organization already exists"))
	org := func(p string) string { return "/organizations/pedant-org" + p }

	// 2. clients, signed by the validator; the top-level private_key signs as the client.
	clients := map[string]actor{}
	for _, n := range []string{"pedant_admin_client", "pedant_non_admin_client"} {
		r := e.must(validator, "POST", org("/clients"), jsonString(map[string]string{"name": n}), 201)
		o := r.obj(t)
		if o["uri"] != e.srv.URL+org("/clients/"+n) || !strings.HasPrefix(o["public_key"].(string), "-----BEGIN PUBLIC KEY-----") || o["chef_key"] != nil {
			t.Fatalf("create client: %s", r.body)
		}
		clients[n] = actor{n, mustKey(t, []byte(o["private_key"].(string)))}
		e.must(clients[n], "GET", org("/clients/"+n), "", 200)
	}
	expect(t, e.do(validator, "POST", org("/clients"), `{"name":"pedant_admin_client"}`), 409, errBody("Client already exists"))
	// The v0 re-key fallback is forbidden to validators, as in erchef.
	expect(t, e.do(validator, "PUT", org("/clients/pedant_admin_client"), `{"name":"pedant_admin_client","private_key":true}`), 403, errBody("missing update permission"))
	expect(t, e.do(validator, "POST", org("/clients"), `{"name":"v2","validator":true}`), 403, errBody("missing create permission"))

	// 3. users, associations and groups.
	users := map[string]actor{}
	for _, n := range []string{"pedant_admin_user", "pedant_user", "pedant-nobody"} {
		body := jsonString(map[string]string{"username": n, "email": n + "@chef.io", "first_name": n, "last_name": n, "display_name": n, "password": "foobar"})
		r := e.must(e.pivotal, "POST", "/users", body, 201)
		o := r.obj(t)
		if o["uri"] != e.srv.URL+"/users/"+n || len(o) != 2 {
			t.Fatalf("create user: %s", r.body)
		}
		users[n] = actor{n, mustKey(t, []byte(o["private_key"].(string)))}
	}
	alterGroup := func(group, user string) {
		g := e.must(e.pivotal, "GET", org("/groups/"+group), "", 200).obj(t)
		body := jsonString(map[string]any{"groupname": group, "actors": map[string]any{
			"users": append([]any{user}, g["actors"].([]any)...), "groups": g["groups"], "clients": g["clients"]}})
		r := e.must(e.pivotal, "PUT", org("/groups/"+group), body, 200)
		if string(r.body) != body {
			t.Fatalf("PUT group echoed %s, sent %s", r.body, body)
		}
	}
	for _, n := range []string{"pedant_admin_user", "pedant_user"} {
		r := e.must(e.pivotal, "POST", org("/users"), jsonString(map[string]string{"username": n}), 201)
		if len(r.body) != 0 || r.header.Get("Location") != e.srv.URL+org("/users/"+n) {
			t.Fatalf("associate: %s %v", r, r.header)
		}
	}
	expect(t, e.do(e.pivotal, "POST", org("/users"), `{"username":"pedant_user"}`), 409, errString("The association already exists."))
	for _, g := range []string{"admins", "billing-admins", "users"} {
		alterGroup(g, "pedant_admin_user")
	}
	alterGroup("users", "pedant_user")
	// alter_group seeds users from actors, which holds the validator: it is silently dropped.
	g := e.must(e.pivotal, "GET", org("/groups/clients"), "", 200).obj(t)
	if list(g["clients"]) != "[pedant-org-validator pedant_admin_client pedant_non_admin_client]" || list(g["users"]) != "[]" {
		t.Fatalf("clients group %v", g)
	}
	g = e.must(e.pivotal, "GET", org("/groups/admins"), "", 200).obj(t)
	if list(g["users"]) != "[pedant_admin_user pivotal]" || list(g["actors"]) != "[pedant_admin_user pivotal]" || g["orgname"] != "pedant-org" || g["groupname"] != "admins" || g["name"] != "admins" {
		t.Fatalf("admins group %v", g)
	}

	// The pushy helpers: setup_group as pivotal (outside user included), create_key_for.
	e.must(e.pivotal, "POST", org("/groups"), `{"groupname":"pushy_job_readers"}`, 201)
	e.must(e.pivotal, "PUT", org("/groups/pushy_job_readers"), `{"groupname":"pushy_job_readers","actors":{"users":["pedant_user","pedant-nobody"],"clients":["pedant_non_admin_client"],"groups":[]}}`, 200)
	g = e.must(e.pivotal, "GET", org("/groups/pushy_job_readers"), "", 200).obj(t)
	if list(g["users"]) != "[pedant-nobody pedant_user]" || list(g["clients"]) != "[pedant_non_admin_client]" || list(g["actors"]) != "[pedant_non_admin_client pedant-nobody pedant_user]" {
		t.Fatalf("readers %v", g)
	}
	for _, n := range []string{"DONKEY", "FIONA"} {
		e.do(users["pedant_admin_user"], "DELETE", org("/clients/"+n), "") // 404 is normal
		r := e.must(e.pivotal, "POST", org("/clients"), jsonString(map[string]string{"name": n}), 201)
		node := actor{n, mustKey(t, []byte(r.obj(t)["private_key"].(string)))}
		e.must(node, "GET", org("/clients/"+n), "", 200)
	}
	e.must(users["pedant_admin_user"], "DELETE", org("/clients/DONKEY"), "", 200)
	expect(t, e.do(users["pedant-nobody"], "DELETE", org("/clients/FIONA"), ""), 403, errBody("'pedant-nobody' not associated with organization 'pedant-org'"))
	expect(t, e.do(clients["pedant_admin_client"], "DELETE", org("/clients/FIONA"), ""), 403, errBody("missing delete permission"))

	// What the pushy server asks: membership through the directory.
	p, err := e.dir.Principal(ctx, "pedant-org", "pedant-nobody")
	if err != nil || p.OrgMember {
		t.Fatalf("outside user principal %+v %v", p, err)
	}
	if m, _, _ := e.dir.IsMember(ctx, "pedant-org", "admins", &identity.Principal{Name: "pedant_admin_user", Type: identity.TypeUser}); !m {
		t.Fatal("admin user not in admins")
	}
	if m, _, _ := e.dir.IsMember(ctx, "pedant-org", "admins", &identity.Principal{Name: "pedant_admin_client", Type: identity.TypeClient}); m {
		t.Fatal("admin client in admins")
	}

	// 5. teardown.
	e.must(e.pivotal, "DELETE", org("/groups/pushy_job_readers"), "", 200)
	for n := range clients {
		e.must(e.pivotal, "DELETE", org("/clients/"+n), "", 200)
	}
	for n := range users {
		e.must(e.pivotal, "DELETE", "/users/"+n, "", 200)
	}
	e.must(e.pivotal, "DELETE", org("/clients/pedant-org-validator"), "", 200)
	r = e.must(e.pivotal, "DELETE", "/organizations/pedant-org", "", 200)
	if o := r.obj(t); o["name"] != "pedant-org" || o["full_name"] != "pedant-org" || len(o["guid"].(string)) != 32 {
		t.Fatalf("delete org: %s", r.body)
	}
	expect(t, e.do(e.pivotal, "GET", "/organizations/pedant-org", ""), 404, errBody("organization 'pedant-org' does not exist."))
	if _, err := e.dir.Principal(ctx, "pedant-org", "FIONA"); err != identity.ErrOrgNotFound {
		t.Fatalf("principal of a deleted org: %v", err)
	}
	// A second run against the cleaned server works (users are global).
	e.must(e.pivotal, "POST", "/organizations", `{"name":"pedant-org","full_name":"pedant-org"}`, 201)
	e.must(e.pivotal, "POST", "/users", `{"username":"pedant_user","email":"pedant_user@chef.io","display_name":"x","password":"foobar"}`, 201)
}

func TestAuthenticationErrors(t *testing.T) {
	e := newEnv(t)
	normal := e.createUser("normal", testKeys[0], true)
	outside := e.createUser("outside", testKeys[1], false)
	node := e.createClient("node1", testKeys[2])
	bogus := actor{"invalid", testKeys[3]}
	path := e.orgPath("/groups")

	cases := []struct {
		name   string
		q      req
		method string
		path   string
		status int
		body   string
	}{
		{"missing all headers", req{}, "GET", path, 400, errBody("missing required authentication header(s) 'X-Ops-UserId', 'X-Ops-Timestamp', 'X-Ops-Sign', 'X-Ops-Content-Hash'")},
		{"missing sign", req{who: &e.admin, mutate: func(h http.Header) { h.Del("X-Ops-Sign") }}, "GET", path, 400, errBody("missing required authentication header(s) 'X-Ops-Sign'")},
		{"empty timestamp", req{who: &e.admin, mutate: func(h http.Header) { h.Set("X-Ops-Timestamp", "") }}, "GET", path, 400, errBody("missing required authentication header(s) 'X-Ops-Timestamp'")},
		{"bad version", req{who: &e.admin, mutate: func(h http.Header) { h.Set("X-Ops-Sign", "version=8.1") }}, "GET", path, 400, errBody("Unsupported authentication protocol version")},
		{"timestamp xxx", req{who: &e.admin, mutate: func(h http.Header) { h.Set("X-Ops-Timestamp", "xxx") }}, "GET", path, 401, errBody("bad header(s) 'X-Ops-Timestamp'")},
		{"clock skew", req{who: &e.admin, mutate: func(h http.Header) {
			h.Set("X-Ops-Timestamp", e.clock.Now().Add(-time.Hour).Format(chefauth.TimestampLayout))
		}}, "GET", path, 401, errBody("Failed to authenticate as admin. Synchronize the clock on your host.")},
		{"unknown user", req{who: &bogus}, "GET", path, 401, errBody("Failed to authenticate as 'invalid'. Ensure that your node_name and client key are correct.")},
		{"bad signature", req{who: &actor{"admin", testKeys[3]}}, "GET", path, 401, errBody("Invalid signature for user or client 'admin'")},
		{"signature of another user", req{who: &e.admin, mutate: func(h http.Header) { h.Set("X-Ops-UserId", "normal") }}, "GET", path, 401, errBody("Invalid signature for user or client 'normal'")},
		{"tampered signature", req{who: &e.admin, mutate: func(h http.Header) { h.Del("X-Ops-Authorization-3") }}, "GET", path, 401, errBody("Invalid signature for user or client 'admin'")},
		{"not associated", req{who: &outside}, "GET", path, 403, errBody("'outside' not associated with organization 'pushlab'")},
		{"not admin", req{who: &normal}, "POST", path, 403, errBody("missing create permission")},
		{"client not admin", req{who: &node}, "GET", path, 403, errBody("missing read permission")},
		{"unknown org", req{who: &e.admin}, "GET", "/organizations/nope/groups", 404, errBody("organization 'nope' does not exist.")},
		{"unknown org before the signature", req{who: &bogus}, "GET", "/organizations/nope/clients", 404, errBody("organization 'nope' does not exist.")},
		{"bad API version", req{who: &e.admin, api: "7"}, "GET", path, 406, `{"error":"invalid-x-ops-server-api-version","message":"Specified version 7 not supported","min_version":0,"max_version":2}`},
		{"non-integer API version", req{who: &e.admin, api: "x"}, "GET", path, 406, ""},
		{"unknown path", req{who: &e.admin}, "GET", "/organizations/pushlab/cookbooks", 404, errBody("Not Found")},
		{"unknown top-level path", req{who: &e.admin}, "GET", "/nodes", 404, errBody("Not Found")},
		{"method not allowed", req{}, "PUT", "/organizations", 405, ""},
		{"superuser only", req{who: &e.admin}, "POST", "/users", 403, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := ""
			if c.method == "POST" && c.path == path {
				body = `{"groupname":"g1"}`
			}
			if c.path == "/users" {
				body = `{"username":"u1","email":"u1@x.io","display_name":"u1","password":"foobar"}`
			}
			r := e.send(c.q, c.method, c.path, body)
			expect(t, r, c.status, c.body)
			if c.status == 401 && !strings.Contains(c.name, "timestamp") && !strings.Contains(c.name, "clock") && r.header.Get("WWW-Authenticate") != chefauth.WWWAuthenticate {
				t.Fatalf("401 without WWW-Authenticate: %v", r.header)
			}
			if c.status != 405 && r.header.Get("Content-Type") != "application/json" {
				t.Fatalf("Content-Type %q", r.header.Get("Content-Type"))
			}
			v := r.header.Get("X-Ops-Server-API-Version")
			var hv map[string]string
			if err := json.Unmarshal([]byte(v), &hv); err != nil || hv["min_version"] != "0" || hv["max_version"] != "2" {
				t.Fatalf("X-Ops-Server-API-Version %q", v)
			}
			if c.status == 406 && hv["response_version"] != "-1" {
				t.Fatalf("406 response version %q", v)
			}
		})
	}
	if r := e.send(req{who: &e.admin, api: "1"}, "GET", path, ""); r.status != 200 || !strings.Contains(r.header.Get("X-Ops-Server-API-Version"), `"request_version":"1","response_version":"1"`) {
		t.Fatalf("v1: %s %v", r, r.header)
	}
	// Signing protocols 1.0 and 1.3 work too.
	for _, v := range []string{"1.0", "1.3"} {
		hr, _ := http.NewRequest("GET", e.srv.URL+path, nil)
		s := &chefauth.Signer{UserID: "admin", Key: e.admin.key, Version: v, ServerAPIVersion: "1", Now: e.clock.Now}
		if err := s.Sign(hr, nil); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("signed with %s: %d", v, resp.StatusCode)
		}
	}
	// Oversized bodies.
	big := `{"groupname":"` + strings.Repeat("x", identity.MaxBodySize) + `"}`
	expect(t, e.do(e.admin, "POST", path, big), 413, `{"error":"JSON must be no more than 1000000 bytes."}`)
	// Body validation comes before the signature, as in erchef.
	expect(t, e.do(bogus, "POST", path, `not json`), 400, errBody("invalid JSON"))
}

func TestAuthSkewOption(t *testing.T) {
	for _, c := range []struct {
		skew, age time.Duration
		ok        bool
	}{
		{60 * time.Second, 30 * time.Second, true},
		{60 * time.Second, 120 * time.Second, false},
		{2000 * time.Second, 1000 * time.Second, true},
		{2000 * time.Second, 2100 * time.Second, false},
		{0, 899 * time.Second, true},
		{0, 901 * time.Second, false},
	} {
		t.Run(fmt.Sprintf("skew=%v/age=%v", c.skew, c.age), func(t *testing.T) {
			e := newEnv(t, func(o *identity.Options) { o.AuthSkew = c.skew })
			r := e.send(req{who: &e.admin, mutate: func(h http.Header) {}}, "GET", e.orgPath("/groups"), "")
			if r.status != 200 {
				t.Fatalf("fresh request: %s", r)
			}
			old := e.clock.Now().Add(-c.age)
			who := e.admin
			hr, _ := http.NewRequest("GET", e.srv.URL+e.orgPath("/groups"), nil)
			s := &chefauth.Signer{UserID: who.name, Key: who.key, Now: func() time.Time { return old }}
			if err := s.Sign(hr, nil); err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(hr)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if (resp.StatusCode == 200) != c.ok {
				t.Fatalf("request %v old with skew %v: %d", c.age, c.skew, resp.StatusCode)
			}
		})
	}
}

func TestUserEndpoints(t *testing.T) {
	e := newEnv(t)
	// Validation.
	for body, msg := range map[string]string{
		`[]`: "invalid JSON",
		`{`:  "invalid JSON",
		`{"email":"a@b.c","display_name":"x","password":"foobar"}`:                                    "Field 'username' missing",
		`{"username":"Bad Name","email":"a@b.c","display_name":"x","password":"foobar"}`:              "Field 'username' invalid",
		`{"username":"u","email":"a@b.c","password":"foobar"}`:                                        "Field 'display_name' missing",
		`{"username":"u","email":"nope","display_name":"x","password":"foobar"}`:                      "Field 'email' invalid",
		`{"username":"u","email":"a@b.c","display_name":"x"}`:                                         "Field 'password' missing",
		`{"username":"u","email":"a@b.c","display_name":"x","password":"short"}`:                      "Password must have at least 6 characters",
		`{"username":"u","email":"a@b.c","display_name":"x","password":"foobar","public_key":"junk"}`: "Invalid public key",
	} {
		expect(t, e.do(e.pivotal, "POST", "/users", body), 400, errBody(msg))
	}
	// v1: create_key xor public_key; private_key refused; neither = keyless.
	v1 := req{who: &e.pivotal, api: "1"}
	expect(t, e.send(v1, "POST", "/users", `{"username":"u","email":"a@b.c","display_name":"x","password":"foobar","create_key":true,"public_key":`+jsonString(pubPEM(testKeys[0]))+`}`), 400, errBody("You must specify either create_key or public_key, but not both"))
	expect(t, e.send(v1, "POST", "/users", `{"username":"u","email":"a@b.c","display_name":"x","password":"foobar","private_key":true}`), 400, errBody("Please use create_key: true instead of private_key: true"))
	r := e.send(v1, "POST", "/users", `{"username":"keyless","email":"k@b.c","display_name":"x","password":"foobar"}`)
	expect(t, r, 201, fmt.Sprintf(`{"uri":"%s/users/keyless"}`, e.srv.URL))
	r = e.send(v1, "POST", "/users", `{"username":"v1user","email":"v1@b.c","display_name":"V One","first_name":"V","last_name":"One","middle_name":"M","password":"foobar","create_key":true}`)
	ck, _ := r.obj(t)["chef_key"].(map[string]any)
	if r.status != 201 || ck == nil || ck["name"] != "default" || ck["expiration_date"] != "infinity" || ck["uri"] != e.srv.URL+"/users/v1user/keys/default" {
		t.Fatalf("v1 create: %s", r)
	}
	v1user := actor{"v1user", mustKey(t, []byte(ck["private_key"].(string)))}
	expect(t, e.do(e.pivotal, "POST", "/users", `{"username":"v1user","email":"other@b.c","display_name":"x","password":"foobar"}`), 409, errBody("Username or email address already in use."))
	expect(t, e.do(e.pivotal, "POST", "/users", `{"username":"other","email":"v1@b.c","display_name":"x","password":"foobar"}`), 409, errBody("Username or email address already in use."))

	// GET: the superuser and the user itself; v0 adds the public key.
	r = e.must(v1user, "GET", "/users/v1user", "", 200)
	want := fmt.Sprintf(`{"username":"v1user","email":"v1@b.c","display_name":"V One","first_name":"V","last_name":"One","middle_name":"M","public_key":%s}`, jsonString(ck["public_key"]))
	expect(t, r, 200, want)
	r = e.send(req{who: &e.pivotal, api: "1"}, "GET", "/users/v1user", "")
	expect(t, r, 200, `{"username":"v1user","email":"v1@b.c","display_name":"V One","first_name":"V","last_name":"One","middle_name":"M"}`)
	expect(t, e.do(e.admin, "GET", "/users/v1user", ""), 403, errBody("missing read permission"))
	expect(t, e.do(e.pivotal, "GET", "/users/ghost", ""), 404, errString("Could not find user ghost"))

	// Listing (superuser).
	r = e.must(e.pivotal, "GET", "/users", "", 200)
	if o := r.obj(t); len(o) != 4 || o["v1user"] != e.srv.URL+"/users/v1user" || o["pivotal"] == nil {
		t.Fatalf("users %s", r.body)
	}
	expect(t, e.must(e.pivotal, "GET", "/users?email=v1@b.c", "", 200), 200, fmt.Sprintf(`{"v1user":"%s/users/v1user"}`, e.srv.URL))
	if o := e.must(e.pivotal, "GET", "/users?verbose=true", "", 200).obj(t); fmt.Sprint(o["v1user"]) != "map[email:v1@b.c first_name:V last_name:One]" {
		t.Fatalf("verbose %v", o)
	}
	expect(t, e.do(e.admin, "GET", "/users", ""), 403, errBody("missing read permission"))

	// PUT: re-keying at v0; the old key stops working at once.
	r = e.must(v1user, "PUT", "/users/v1user", `{"username":"v1user","private_key":true}`, 200)
	rekeyed := actor{"v1user", mustKey(t, []byte(r.obj(t)["private_key"].(string)))}
	expect(t, e.do(v1user, "GET", "/users/v1user", ""), 401, errBody("Invalid signature for user or client 'v1user'"))
	e.must(rekeyed, "GET", "/users/v1user", "", 200)
	e.must(e.pivotal, "PUT", "/users/v1user", jsonString(map[string]string{"public_key": pubPEM(testKeys[0])}), 200)
	e.must(actor{"v1user", testKeys[0]}, "GET", "/users/v1user", "", 200)
	expect(t, e.do(e.pivotal, "PUT", "/users/v1user", `{"email":"new@b.c"}`), 400, errBody("Changing 'email' is not supported by this server"))
	expect(t, e.send(req{who: &e.pivotal, api: "1"}, "PUT", "/users/v1user", `{"private_key":true}`), 400, errBody("Since Server API v1, all keys must be updated via the keys endpoint. "))

	// DELETE by the user itself.
	r = e.must(actor{"v1user", testKeys[0]}, "DELETE", "/users/v1user", "", 200)
	if r.obj(t)["username"] != "v1user" {
		t.Fatalf("delete %s", r.body)
	}
	expect(t, e.do(e.pivotal, "DELETE", "/users/v1user", ""), 404, errString("Could not find user v1user"))
}

func TestOrgUserEndpoints(t *testing.T) {
	e := newEnv(t)
	u := e.createUser("member", testKeys[0], true)
	e.createUser("loner", testKeys[1], false)
	expect(t, e.must(e.admin, "GET", e.orgPath("/users"), "", 200), 200, `[{"user":{"username":"admin"}},{"user":{"username":"member"}}]`)
	expect(t, e.do(e.admin, "POST", e.orgPath("/users"), `{"username":"loner"}`), 403, errBody("missing create permission"))
	expect(t, e.do(e.pivotal, "POST", e.orgPath("/users"), `{"username":"ghost"}`), 404, errString("Could not find user ghost"))
	expect(t, e.do(e.pivotal, "POST", e.orgPath("/users"), `{}`), 400, errBody("Field 'username' missing"))
	e.must(u, "GET", e.orgPath("/users/member"), "", 200)
	expect(t, e.do(e.admin, "GET", e.orgPath("/users/loner"), ""), 404, errString("Cannot find a user loner in organization pushlab"))
	expect(t, e.do(e.admin, "GET", e.orgPath("/users/ghost"), ""), 404, errString("Could not find user ghost"))
	// Admins cannot be removed while in admins.
	expect(t, e.do(e.pivotal, "DELETE", e.orgPath("/users/admin"), ""), 403, errString("Please remove admin from this organization's admins group before removing him or her from the organization."))
	expect(t, e.do(u, "DELETE", e.orgPath("/users/admin"), ""), 403, errBody("missing delete permission"))
	// Dissociation removes the user from users; a user may leave by itself.
	if m, _, _ := e.dir.IsMember(ctx, testOrg, "users", &identity.Principal{Name: "member", Type: identity.TypeUser}); !m {
		t.Fatal("member not in users")
	}
	r := e.must(u, "DELETE", e.orgPath("/users/member"), "", 200)
	if r.obj(t)["username"] != "member" {
		t.Fatalf("dissociate %s", r.body)
	}
	if m, _, _ := e.dir.IsMember(ctx, testOrg, "users", &identity.Principal{Name: "member", Type: identity.TypeUser}); m {
		t.Fatal("member still in users")
	}
	expect(t, e.do(u, "GET", e.orgPath("/groups"), ""), 403, errBody("'member' not associated with organization 'pushlab'"))
}

func TestOrgEndpoints(t *testing.T) {
	e := newEnv(t)
	normal := e.createUser("normal", testKeys[0], true)
	node := e.createClient("node1", testKeys[1])
	guid, _ := e.dir.OrgGUID(ctx, testOrg)
	want := fmt.Sprintf(`{"name":"pushlab","full_name":"pushlab","guid":"%s"}`, guid)
	expect(t, e.send(req{who: &e.pivotal, api: "1"}, "GET", "/organizations/pushlab", ""), 200, want)
	expect(t, e.do(e.admin, "GET", "/organizations/pushlab", ""), 200, want)
	expect(t, e.do(normal, "GET", "/organizations/pushlab", ""), 200, want)
	expect(t, e.do(node, "GET", "/organizations/pushlab", ""), 403, errBody("missing read permission"))
	expect(t, e.do(normal, "DELETE", "/organizations/pushlab", ""), 403, errBody("missing delete permission"))
	expect(t, e.must(e.pivotal, "GET", "/organizations", "", 200), 200, fmt.Sprintf(`{"pushlab":"%s/organizations/pushlab"}`, e.srv.URL))
	expect(t, e.do(e.admin, "GET", "/organizations", ""), 403, errBody("missing read permission"))
	expect(t, e.do(e.admin, "POST", "/organizations", `{"name":"o2","full_name":"O 2"}`), 403, errBody("missing create permission"))
	for body, msg := range map[string]string{
		`{"full_name":"x"}`:                 "Field 'name' missing",
		`{"name":"Bad","full_name":"x"}`:    "Field 'name' invalid",
		`{"name":"-bad","full_name":"x"}`:   "Field 'name' invalid",
		`{"name":"ok"}`:                     "Field 'full_name' missing",
		`{"name":"ok","full_name":" lead"}`: "Field 'full_name' invalid",
	} {
		expect(t, e.do(e.pivotal, "POST", "/organizations", body), 400, errBody(msg))
	}
	// The creator (pivotal) is in the new org's admins and users; the validator in clients.
	e.must(e.pivotal, "POST", "/organizations", `{"name":"o2","full_name":"Org Two"}`, 201)
	if m, _, _ := e.dir.IsMember(ctx, "o2", "admins", &identity.Principal{Name: "pivotal", Type: identity.TypeUser}); !m {
		t.Fatal("creator not in admins")
	}
	if m, _, _ := e.dir.IsMember(ctx, "o2", "clients", &identity.Principal{Name: "o2-validator", Type: identity.TypeClient}); !m {
		t.Fatal("validator not in clients")
	}
	// An org admin may delete the org.
	e.must(e.pivotal, "POST", "/organizations/o2/users", `{"username":"normal"}`, 201)
	e.setGroupIn("o2", "admins", []string{"normal"})
	e.must(normal, "DELETE", "/organizations/o2", "", 200)
	expect(t, e.do(e.pivotal, "GET", "/organizations/o2", ""), 404, errBody("organization 'o2' does not exist."))
}

// setGroupIn sets a group's users in another org.
func (e *env) setGroupIn(org, group string, users []string) {
	e.t.Helper()
	e.must(e.pivotal, "PUT", "/organizations/"+org+"/groups/"+group, jsonString(map[string]any{"actors": map[string]any{"users": users}}), 200)
}

func TestClientEndpoints(t *testing.T) {
	e := newEnv(t)
	normal := e.createUser("normal", testKeys[0], true)
	// Validation.
	for body, msg := range map[string]string{
		`{}`:                                           "Field 'name' missing",
		`{"name":"a","clientname":"b"}`:                "name and clientname must match",
		`{"name":"bad name"}`:                          "Invalid client name 'bad name' using regex: 'Malformed client name.  Must be A-Z, a-z, 0-9, _, -, or .'.",
		`{"name":"ok","validator":"yes"}`:              "Field 'validator' invalid",
		`{"name":"ok","public_key":"garbage"}`:         "Invalid public key",
		`{"clientname":"bad/name"}`:                    "Invalid client name 'bad/name' using regex: 'Malformed client name.  Must be A-Z, a-z, 0-9, _, -, or .'.",
		`{"names":["ok","bad name"],"public_key":"x"}`: "Invalid client name 'bad name' using regex: 'Malformed client name.  Must be A-Z, a-z, 0-9, _, -, or .'.",
	} {
		expect(t, e.do(e.pivotal, "POST", e.orgPath("/clients"), body), 400, errBody(msg))
	}
	// v0 with the caller's key: uri + public_key, no private key; clientname alone is enough.
	r := e.must(e.admin, "POST", e.orgPath("/clients"), jsonString(map[string]any{"clientname": "Node.One", "admin": true, "public_key": pubPEM(testKeys[1])}), 201)
	expect(t, r, 201, fmt.Sprintf(`{"uri":"%s/organizations/pushlab/clients/Node.One","public_key":%s}`, e.srv.URL, jsonString(pubPEM(testKeys[1]))))
	nodeOne := actor{"Node.One", testKeys[1]}
	// v1: create_key → chef_key with a private key.
	r = e.send(req{who: &e.pivotal, api: "2"}, "POST", e.orgPath("/clients"), `{"name":"v1node","create_key":true}`)
	ck, _ := r.obj(t)["chef_key"].(map[string]any)
	if r.status != 201 || ck == nil || ck["uri"] != e.srv.URL+e.orgPath("/clients/v1node/keys/default") || ck["private_key"] == nil {
		t.Fatalf("v1 client: %s", r)
	}
	v1node := actor{"v1node", mustKey(t, []byte(ck["private_key"].(string)))}
	expect(t, e.send(req{who: &e.pivotal, api: "1"}, "POST", e.orgPath("/clients"), `{"name":"x","create_key":true,"public_key":`+jsonString(pubPEM(testKeys[1]))+`}`), 400, errBody("You must specify either create_key or public_key, but not both"))
	expect(t, e.do(normal, "POST", e.orgPath("/clients"), `{"name":"n2"}`), 403, errBody("missing create permission"))
	expect(t, e.do(e.pivotal, "POST", e.orgPath("/clients"), `{"name":"v1node"}`), 409, errBody("Client already exists"))

	// Listing and reading.
	r = e.must(normal, "GET", e.orgPath("/clients"), "", 200)
	if o := r.obj(t); len(o) != 3 || o["v1node"] != e.srv.URL+e.orgPath("/clients/v1node") {
		t.Fatalf("clients %s", r.body)
	}
	expect(t, e.do(nodeOne, "GET", e.orgPath("/clients"), ""), 403, errBody("missing read permission"))
	want := `{"name":"v1node","clientname":"v1node","validator":false,"orgname":"pushlab","json_class":"Chef::ApiClient","chef_type":"client"}`
	expect(t, e.send(req{who: &v1node, api: "1"}, "GET", e.orgPath("/clients/v1node"), ""), 200, want)
	expect(t, e.do(nodeOne, "GET", e.orgPath("/clients/v1node"), ""), 403, errBody("missing read permission"))
	expect(t, e.do(e.admin, "GET", e.orgPath("/clients/ghost"), ""), 404, errBody("Cannot load client ghost"))

	// PUT: v0 re-key by the client itself; name changes refused; v1 key fields refused.
	r = e.must(nodeOne, "PUT", e.orgPath("/clients/Node.One"), `{"name":"Node.One","private_key":true}`, 200)
	o := r.obj(t)
	if o["name"] != "Node.One" || o["json_class"] != "Chef::ApiClient" || o["public_key"] == pubPEM(testKeys[1]) {
		t.Fatalf("re-key: %s", r.body)
	}
	expect(t, e.do(nodeOne, "GET", e.orgPath("/clients/Node.One"), ""), 401, errBody("Invalid signature for user or client 'Node.One'"))
	nodeOne.key = mustKey(t, []byte(o["private_key"].(string)))
	e.must(nodeOne, "GET", e.orgPath("/clients/Node.One"), "", 200)
	expect(t, e.do(e.pivotal, "PUT", e.orgPath("/clients/Node.One"), `{"name":"Other"}`), 400, errBody("Changing 'name' is not supported by this server"))
	expect(t, e.do(e.pivotal, "PUT", e.orgPath("/clients/Node.One"), `{"validator":true}`), 400, errBody("Changing 'validator' is not supported by this server"))
	expect(t, e.send(req{who: &e.pivotal, api: "1"}, "PUT", e.orgPath("/clients/Node.One"), `{"public_key":"x"}`), 400, errBody("Since Server API v1, all keys must be updated via the keys endpoint. "))
	expect(t, e.do(normal, "PUT", e.orgPath("/clients/Node.One"), `{"private_key":true}`), 403, errBody("missing update permission"))

	// DELETE: the client itself may.
	r = e.must(v1node, "DELETE", e.orgPath("/clients/v1node"), "", 200)
	expect(t, r, 200, `{"name":"v1node","clientname":"v1node","validator":false,"orgname":"pushlab","json_class":"Chef::ApiClient","chef_type":"client","public_key":`+jsonString(ck["public_key"])+`}`)
	expect(t, e.do(e.pivotal, "DELETE", e.orgPath("/clients/v1node"), ""), 404, errBody("Cannot load client v1node"))

	// Bulk registration extension: existing names are reported, not recreated.
	body := jsonString(map[string]any{"names": []string{"b1", "b2", "Node.One", "b1"}, "public_key": pubPEM(testKeys[2])})
	expect(t, e.must(e.validator, "POST", e.orgPath("/clients"), body, 201), 201, `{"created":["b1","b2"],"existing":["Node.One"]}`)
	e.must(actor{"b2", testKeys[2]}, "GET", e.orgPath("/clients/b2"), "", 200)
	if m, _, _ := e.dir.IsMember(ctx, testOrg, "clients", &identity.Principal{Name: "b1", Type: identity.TypeClient}); !m {
		t.Fatal("bulk client not in clients")
	}
	expect(t, e.do(normal, "POST", e.orgPath("/clients"), body), 403, errBody("missing create permission"))
}

func TestGroupEndpoints(t *testing.T) {
	e := newEnv(t)
	normal := e.createUser("normal", testKeys[0], true)
	e.createClient("node1", testKeys[1])
	for body, msg := range map[string]string{
		`{}`:                  "Field 'groupname' missing",
		`{"groupname":"Bad"}`: "Invalid group name.",
		`{"groupname":7}`:     "Invalid group name.",
		`{"groupname":"a b"}`: "Invalid group name.",
		`{"groupname":"ok"`:   "invalid JSON",
	} {
		expect(t, e.do(e.pivotal, "POST", e.orgPath("/groups"), body), 400, errBody(msg))
	}
	r := e.must(e.admin, "POST", e.orgPath("/groups"), `{"groupname":"g1"}`, 201)
	expect(t, r, 201, fmt.Sprintf(`{"uri":"%s/organizations/pushlab/groups/g1"}`, e.srv.URL))
	e.must(e.admin, "POST", e.orgPath("/groups"), `{"id":"g2"}`, 201)
	expect(t, e.do(e.admin, "POST", e.orgPath("/groups"), `{"groupname":"g1"}`), 409, errBody("Group already exists"))
	expect(t, e.do(normal, "POST", e.orgPath("/groups"), `{"groupname":"g3"}`), 403, errBody("missing create permission"))
	r = e.must(normal, "GET", e.orgPath("/groups"), "", 200)
	if o := r.obj(t); len(o) != 6 || o["g2"] != e.srv.URL+e.orgPath("/groups/g2") {
		t.Fatalf("groups %s", r.body)
	}
	// Read: users may read new groups, not the default ones.
	expect(t, e.do(normal, "GET", e.orgPath("/groups/g1"), ""), 200, `{"actors":[],"users":[],"clients":[],"groups":[],"orgname":"pushlab","name":"g1","groupname":"g1"}`)
	expect(t, e.do(normal, "GET", e.orgPath("/groups/admins"), ""), 403, errBody("missing read permission"))
	expect(t, e.do(e.admin, "GET", e.orgPath("/groups/ghost"), ""), 404, errBody("Cannot load group ghost"))
	// PUT: scoped and unknown names, the flat actors form, partial lists.
	e.must(e.admin, "PUT", e.orgPath("/groups/g1"), `{"groupname":"g1","actors":{"users":["normal","ghost"],"clients":["pushlab::node1","other::node1"],"groups":["pushlab::g2","nope"]}}`, 200)
	expect(t, e.do(e.admin, "GET", e.orgPath("/groups/g1"), ""), 200, `{"actors":["node1","normal"],"users":["normal"],"clients":["node1"],"groups":["g2"],"orgname":"pushlab","name":"g1","groupname":"g1"}`)
	e.must(e.admin, "PUT", e.orgPath("/groups/g1"), `{"actors":{"clients":[]}}`, 200)
	expect(t, e.do(e.admin, "GET", e.orgPath("/groups/g1"), ""), 200, `{"actors":["normal"],"users":["normal"],"clients":[],"groups":["g2"],"orgname":"pushlab","name":"g1","groupname":"g1"}`)
	e.must(e.admin, "PUT", e.orgPath("/groups/g2"), `{"groupname":"g2","actors":["admin","node1","ghost"]}`, 200)
	expect(t, e.do(e.admin, "GET", e.orgPath("/groups/g2"), ""), 200, `{"actors":["node1","admin"],"users":["admin"],"clients":["node1"],"groups":[],"orgname":"pushlab","name":"g2","groupname":"g2"}`)
	expect(t, e.do(e.admin, "PUT", e.orgPath("/groups/g2"), `{"groupname":"Bad"}`), 400, errBody("Invalid group name."))
	expect(t, e.do(e.admin, "PUT", e.orgPath("/groups/g2"), `{"actors":{"users":"admin"}}`), 400, errBody("Field 'actors' invalid"))
	expect(t, e.do(normal, "PUT", e.orgPath("/groups/g2"), `{"actors":{"users":[]}}`), 403, errBody("missing update permission"))
	expect(t, e.do(e.admin, "PUT", e.orgPath("/groups/ghost"), `{"actors":{"users":[]}}`), 404, errBody("Cannot load group ghost"))
	// Rename: 201 with Location; membership of the renamed group in g1 follows.
	r = e.must(e.admin, "PUT", e.orgPath("/groups/g2"), `{"groupname":"g2new"}`, 201)
	if r.header.Get("Location") != e.srv.URL+e.orgPath("/groups/g2new") {
		t.Fatalf("rename Location %q", r.header.Get("Location"))
	}
	expect(t, e.do(e.admin, "GET", e.orgPath("/groups/g1"), ""), 200, `{"actors":["normal"],"users":["normal"],"clients":[],"groups":["g2new"],"orgname":"pushlab","name":"g1","groupname":"g1"}`)
	if m, _, _ := e.dir.IsMember(ctx, testOrg, "g1", &identity.Principal{Name: "node1", Type: identity.TypeClient}); !m {
		t.Fatal("node1 not in g1 through g2new")
	}
	expect(t, e.do(e.admin, "PUT", e.orgPath("/groups/g2new"), `{"groupname":"g1"}`), 409, errBody("Group already exists"))
	// DELETE.
	expect(t, e.do(normal, "DELETE", e.orgPath("/groups/g1"), ""), 403, errBody("missing delete permission"))
	expect(t, e.must(e.admin, "DELETE", e.orgPath("/groups/g1"), "", 200), 200, `{"actors":["normal"],"users":["normal"],"clients":[],"groups":["g2new"],"orgname":"pushlab","name":"g1","groupname":"g1"}`)
	expect(t, e.do(e.admin, "DELETE", e.orgPath("/groups/g1"), ""), 404, errBody("Cannot load group g1"))
}

func TestPrincipalsEndpoint(t *testing.T) {
	e := newEnv(t)
	e.createUser("dual", testKeys[0], false)
	e.createClient("dual", testKeys[1])
	e.must(e.pivotal, "POST", "/users/dual/keys", jsonString(map[string]string{"name": "second", "public_key": pubPEM(testKeys[2]), "expiration_date": "infinity"}), 201)
	// As the pushy server asks: unauthenticated, empty X-Ops headers, API v1.
	pushy := req{api: "1", mutate: func(h http.Header) {
		for _, k := range []string{"X-Ops-UserId", "X-Ops-Sign", "X-Ops-Timestamp", "X-Ops-Content-Hash"} {
			h.Set(k, "")
		}
		h.Set("User-Agent", "opscode-pushy-server pushy pubkey")
	}}
	r := e.send(pushy, "GET", e.orgPath("/principals/dual"), "")
	var v1 struct {
		Principals []map[string]any `json:"principals"`
	}
	if err := json.Unmarshal(r.body, &v1); err != nil || r.status != 200 || len(v1.Principals) != 3 {
		t.Fatalf("v1 principals %s", r)
	}
	for i, want := range []struct {
		typ, key string
		member   bool
	}{{"user", pubPEM(testKeys[0]), false}, {"user", pubPEM(testKeys[2]), false}, {"client", pubPEM(testKeys[1]), true}} {
		p := v1.Principals[i]
		if p["name"] != "dual" || p["type"] != want.typ || p["public_key"] != want.key || p["org_member"] != want.member || len(p["authz_id"].(string)) != 32 || len(p) != 5 {
			t.Fatalf("entry %d: %v", i, p)
		}
	}
	var hv map[string]string
	if err := json.Unmarshal([]byte(r.header.Get("X-Ops-Server-API-Version")), &hv); err != nil || hv["response_version"] != "1" {
		t.Fatalf("version header %q", r.header.Get("X-Ops-Server-API-Version"))
	}
	// v0: one object, the client.
	r = e.send(req{}, "GET", e.orgPath("/principals/dual"), "")
	o := r.obj(t)
	if r.status != 200 || o["type"] != "client" || o["public_key"] != pubPEM(testKeys[1]) || o["org_member"] != true {
		t.Fatalf("v0 principal %s", r)
	}
	// v0 gives the default key even when another key sorts first.
	e.must(e.pivotal, "POST", "/users/admin/keys", jsonString(map[string]string{"name": "aaa", "public_key": pubPEM(testKeys[3]), "expiration_date": "infinity"}), 201)
	r = e.send(req{}, "GET", e.orgPath("/principals/admin"), "")
	if o := r.obj(t); o["type"] != "user" || o["org_member"] != true || o["name"] != "admin" || o["public_key"] != pubPEM(e.admin.key) {
		t.Fatalf("v0 admin %s", r)
	}
	expect(t, e.send(pushy, "GET", e.orgPath("/principals/ghost"), ""), 404, `{"not_found":"principal","error":"Cannot find principal ghost"}`)
	expect(t, e.send(pushy, "GET", "/organizations/nope/principals/dual", ""), 404, `{"not_found":"org","error":"Cannot find org nope"}`)
	expect(t, e.send(pushy, "POST", e.orgPath("/principals/dual"), ""), 405, "")
}

func TestKeyEndpoints(t *testing.T) {
	e := newEnv(t)
	u := e.createUser("keyuser", testKeys[0], true)
	other := e.createUser("other", testKeys[1], true)
	node := e.createClient("node1", testKeys[2])
	// Validation.
	for body, msg := range map[string]string{
		`{"public_key":"x","expiration_date":"infinity"}`:                              errBody("Field 'name' missing"),
		`{"name":"k","public_key":"x"}`:                                                errBody("Field 'expiration_date' missing"),
		`{"name":"k","expiration_date":"tomorrow"}`:                                    errBody("Field 'expiration_date' invalid"),
		`{"name":"k","expiration_date":"infinity","public_key":"x"}`:                   errBody("Invalid public key"),
		`{"name":"k","expiration_date":"infinity","create_key":true,"public_key":"x"}`: errBody("You must specify either create_key or public_key, but not both"),
	} {
		expect(t, e.do(u, "POST", "/users/keyuser/keys", body), 400, msg)
	}
	// Neither public_key nor create_key: a pair is generated.
	r := e.must(u, "POST", "/users/keyuser/keys", `{"name":"gen","expiration_date":"infinity"}`, 201)
	gen := actor{"keyuser", mustKey(t, []byte(r.obj(t)["private_key"].(string)))}
	e.must(gen, "GET", "/users/keyuser", "", 200)
	expect(t, e.do(u, "POST", "/users/keyuser/keys", `{"name":"gen","expiration_date":"infinity","create_key":true}`), 409, errString("a key with the name 'gen' already exists for this actor."))
	expect(t, e.do(other, "POST", "/users/keyuser/keys", `{"name":"x","expiration_date":"infinity"}`), 403, errBody("missing update permission"))
	expect(t, e.do(other, "GET", "/users/keyuser/keys", ""), 403, errBody("missing read permission"))
	// Org members read each other's keys through the org paths.
	r = e.must(other, "GET", e.orgPath("/users/keyuser/keys"), "", 200)
	if !strings.Contains(string(r.body), `"name":"gen"`) {
		t.Fatalf("org user keys %s", r.body)
	}
	e.must(node, "GET", e.orgPath("/users/keyuser/keys/default"), "", 200)
	e.must(node, "GET", e.orgPath("/clients/node1/keys"), "", 200)
	// The key that signed the request cannot be changed or deleted.
	expect(t, e.do(gen, "DELETE", "/users/keyuser/keys/gen", ""), 403, errBody("The key 'gen' was used to authenticate this request and cannot be modified or deleted."))
	expect(t, e.do(gen, "PUT", "/users/keyuser/keys/gen", `{"expiration_date":"infinity"}`), 403, errBody("The key 'gen' was used to authenticate this request and cannot be modified or deleted."))
	expect(t, e.do(u, "PUT", "/users/keyuser/keys/gen", `{}`), 400, errString("At least one of 'name', 'expiration_date', or 'public_key' must be specified"))
	// PUT create_key: a new pair replaces the key; rename answers 201.
	r = e.must(u, "PUT", "/users/keyuser/keys/gen", `{"create_key":true}`, 200)
	o := r.obj(t)
	if o["name"] != "gen" || o["expiration_date"] != "infinity" || o["private_key"] == nil || o["public_key"] == pubPEM(gen.key) {
		t.Fatalf("PUT create_key %s", r.body)
	}
	expect(t, e.do(gen, "GET", "/users/keyuser", ""), 401, errBody("Invalid signature for user or client 'keyuser'"))
	r = e.must(u, "PUT", "/users/keyuser/keys/gen", `{"name":"renamed"}`, 201)
	if r.header.Get("Location") != e.srv.URL+"/users/keyuser/keys/renamed" {
		t.Fatalf("rename Location %q", r.header.Get("Location"))
	}
	expect(t, e.do(u, "GET", "/users/keyuser/keys/gen", ""), 404, errBody("There is no key named 'gen' for user 'keyuser'"))
	r = e.must(u, "DELETE", "/users/keyuser/keys/renamed", "", 200)
	if r.obj(t)["name"] != "renamed" {
		t.Fatalf("delete key %s", r.body)
	}
	// Client keys: admins manage them, the client may add its own; users may not.
	e.must(e.admin, "POST", e.orgPath("/clients/node1/keys"), jsonString(map[string]string{"name": "extra", "public_key": pubPEM(testKeys[3]), "expiration_date": "2099-01-01T00:00:00Z"}), 201)
	e.must(actor{"node1", testKeys[3]}, "GET", e.orgPath("/clients/node1"), "", 200)
	expect(t, e.do(other, "DELETE", e.orgPath("/clients/node1/keys/extra"), ""), 403, errBody("missing update permission"))
	expect(t, e.do(e.admin, "GET", e.orgPath("/clients/ghost/keys"), ""), 404, errBody("Cannot load client ghost"))
	expect(t, e.do(e.pivotal, "GET", "/users/ghost/keys", ""), 404, errString("Could not find user ghost"))
	e.must(e.admin, "DELETE", e.orgPath("/clients/node1/keys/extra"), "", 200)
	expect(t, e.do(actor{"node1", testKeys[3]}, "GET", e.orgPath("/clients/node1"), ""), 401, errBody("Invalid signature for user or client 'node1'"))
}

func TestServerAPIVersionEndpoint(t *testing.T) {
	e := newEnv(t)
	expect(t, e.do(e.admin, "GET", "/server_api_version", ""), 200, `{"max_api_version":2,"min_api_version":0}`)
	expect(t, e.send(req{}, "GET", "/server_api_version", ""), 400, "")
}
