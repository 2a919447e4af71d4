package server_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/server"
	"github.com/pushlab/pushlab/server/servertest"
	"github.com/pushlab/pushlab/server/store"
)

// requestor is one identity of the pedant suite.
type requestor struct {
	name string
	key  *rsa.PrivateKey
}

// env is a running server with pedant's requestors set up through the Chef API.
type env struct {
	t   *testing.T
	srv *servertest.Server
	org string

	pivotal, admin, normalUser, outsideUser, invalidUser requestor
	adminClient, normalClient, badClient                 requestor
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, servertest.Fast(t.TempDir()))
}

func newEnvWith(t *testing.T, cfg server.Config) *env {
	t.Helper()
	srv := servertest.Start(t, cfg)
	e := &env{t: t, srv: srv, org: srv.Org()}
	e.pivotal = requestor{"pivotal", srv.Pivotal}
	e.admin = requestor{"admin", srv.Admin}
	e.normalUser = e.createUser("pedant_user", true)
	e.outsideUser = e.createUser("pedant-nobody", false)
	e.adminClient = e.createClient("pedant_admin_client")
	e.normalClient = e.createClient("pedant_non_admin_client")
	bogus, err := chefauth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	e.invalidUser = requestor{"invalid", bogus}
	e.badClient = requestor{"bad_client", bogus}
	return e
}

func (e *env) createUser(name string, associate bool) requestor {
	e.t.Helper()
	key, err := chefauth.GenerateKey()
	if err != nil {
		e.t.Fatal(err)
	}
	body := fmt.Sprintf(`{"username":%q,"email":"%s@example.com","first_name":%q,"last_name":%q,"display_name":%q,"password":"foobar","public_key":%q}`,
		name, name, name, name, name, chefauth.EncodePublicKeyPEM(&key.PublicKey))
	e.mustStatus(e.pivotal, "POST", "/users", body, 201)
	if associate {
		e.mustStatus(e.pivotal, "POST", "/organizations/"+e.org+"/users", fmt.Sprintf(`{"username":%q}`, name), 201)
	}
	return requestor{name, key}
}

func (e *env) createClient(name string) requestor {
	e.t.Helper()
	key, err := chefauth.GenerateKey()
	if err != nil {
		e.t.Fatal(err)
	}
	body := fmt.Sprintf(`{"name":%q,"public_key":%q}`, name, chefauth.EncodePublicKeyPEM(&key.PublicKey))
	e.mustStatus(e.pivotal, "POST", "/organizations/"+e.org+"/clients", body, 201)
	return requestor{name, key}
}

// setupGroup creates a group and sets its members, as pedant's setup_group does.
func (e *env) setupGroup(name string, users, clients, groups []string) {
	e.t.Helper()
	e.mustStatus(e.pivotal, "POST", "/organizations/"+e.org+"/groups", fmt.Sprintf(`{"groupname":%q}`, name), 201)
	b, _ := json.Marshal(map[string]any{"groupname": name, "actors": map[string]any{"users": nonNil(users), "clients": nonNil(clients), "groups": nonNil(groups)}})
	e.mustStatus(e.pivotal, "PUT", "/organizations/"+e.org+"/groups/"+name, string(b), 200)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// do sends a request signed by who (nil: unsigned), with optional header mutations after signing.
func (e *env) do(who *requestor, method, path, body string, mutate func(http.Header)) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL()+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	if strings.Contains(path, "_feed") {
		req.Header.Set("Accept", "text/event-stream")
	}
	if strings.Contains(path, "/output/") {
		req.Header.Set("Accept", "application/octet-stream")
	}
	req.Header.Set("Content-Type", "application/json")
	if who != nil {
		s := &chefauth.Signer{UserID: who.name, Key: who.key, Version: "1.1"}
		if err := s.Sign(req, []byte(body)); err != nil {
			e.t.Fatal(err)
		}
	}
	if mutate != nil {
		mutate(req.Header)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

func (e *env) mustStatus(who requestor, method, path, body string, status int) response {
	e.t.Helper()
	r := e.do(&who, method, path, body, nil)
	if r.status != status {
		e.t.Fatalf("%s %s as %s: got %s, want %d", method, path, who.name, r, status)
	}
	return r
}

func (e *env) pushy(p string) string { return "/organizations/" + e.org + "/pushy" + p }

func errorBody(msg string) string {
	b, _ := json.Marshal(map[string][]string{"error": {msg}})
	return string(b)
}

// startJob posts a job as admin and returns its id.
func (e *env) startJob(body string) string {
	e.t.Helper()
	r := e.mustStatus(e.admin, "POST", e.pushy("/jobs"), body, 201)
	var out struct{ URI, ID string }
	if err := json.Unmarshal(r.body, &out); err != nil {
		e.t.Fatalf("POST /jobs body %s: %v", r.body, err)
	}
	if !regexp.MustCompile(`/jobs/[0-9a-f]{32}$`).MatchString(out.URI) || !strings.HasSuffix(out.URI, out.ID) {
		e.t.Fatalf("POST /jobs answered uri %q id %q", out.URI, out.ID)
	}
	if r.header.Get("Location") != out.URI {
		e.t.Fatalf("Location %q, uri %q", r.header.Get("Location"), out.URI)
	}
	return out.ID
}

// waitJob polls GET /jobs/ID until its status is want.
func (e *env) waitJob(id, want string) map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := e.mustStatus(e.admin, "GET", e.pushy("/jobs/"+id), "", 200)
		var j map[string]any
		if err := json.Unmarshal(r.body, &j); err != nil {
			e.t.Fatal(err)
		}
		if j["status"] == want {
			return j
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("job %s is %v, want %s: %s", id, j["status"], want, r.body)
		}
		time.Sleep(20 * time.Millisecond) // polling interval of a deadline loop, not synchronisation
	}
}

// TestMethodNotAllowed: 405 for every method a route does not serve, before any authentication.
func TestMethodNotAllowed(t *testing.T) {
	e := newEnv(t)
	id := e.startJob(`{"command":"sleep 1","nodes":["DONKEY"]}`)
	cases := map[string][]string{
		"/pushy/_status":       {"PUT", "POST", "DELETE"},
		e.pushy("/jobs"):       {"PUT", "DELETE"},
		e.pushy("/jobs/"):      {"PUT", "DELETE"},
		e.pushy("/jobs/" + id): {"PUT", "POST", "DELETE"},
		e.pushy("/jobs/abcdefabcdef807f32d9572f8aafbd03"): {"PUT", "POST", "DELETE"},
		e.pushy("/node_states"):                           {"PUT", "POST", "DELETE"},
		e.pushy("/node_states/"):                          {"PUT", "POST", "DELETE"},
		e.pushy("/node_states/some_node"):                 {"PUT", "POST", "DELETE"},
		e.pushy("/config/DONKEY"):                         {"PUT", "POST", "DELETE"},
		e.pushy("/job_status_feed/" + id):                 {"POST", "PUT", "DELETE"},
	}
	for path, methods := range cases {
		for _, m := range methods {
			if r := e.do(nil, m, path, "", nil); r.status != 405 {
				t.Errorf("%s %s unsigned: %s, want 405", m, path, r)
			}
		}
	}
	for _, m := range []string{"GET", "PUT", "POST", "DELETE"} {
		if r := e.do(&e.admin, m, e.pushy("/config/"), "", nil); r.status != 404 {
			t.Errorf("%s /pushy/config/: %s, want 404", m, r)
		}
	}
}

func TestStatusNeedsNoAuth(t *testing.T) {
	e := newEnv(t)
	for _, who := range []*requestor{nil, &e.admin, &e.normalUser, &e.adminClient, &e.invalidUser, &e.outsideUser} {
		r := e.do(who, "GET", "/pushy/_status", "", nil)
		if r.status != 200 {
			t.Fatalf("GET _status: %s", r)
		}
		var st struct {
			Status        string   `json:"status"`
			IncarnationID string   `json:"incarnation_id"`
			NodeFSMCount  *int     `json:"node_fsm_count"`
			JobProcesses  []string `json:"job_processes"`
		}
		if err := json.Unmarshal(r.body, &st); err != nil || st.Status != "it's alive" || st.IncarnationID != e.srv.IncarnationID() || st.NodeFSMCount == nil || st.JobProcesses == nil {
			t.Fatalf("status body %s", r.body)
		}
	}
}

// TestAuthHeaderMatrix runs pedant's auth-header matrix (protocol.md §3) on every endpoint.
func TestAuthHeaderMatrix(t *testing.T) {
	e := newEnv(t)
	id := e.startJob(`{"command":"sleep 1","nodes":["DONKEY"]}`)
	ccpk := "?ccpk=" + strings.Repeat("0", 40)
	endpoints := []struct{ method, path, body string }{
		{"GET", e.pushy("/config/DONKEY") + ccpk, ""},
		{"POST", e.pushy("/jobs"), `{"command":"sleep 1","nodes":["DONKEY"]}`},
		{"GET", e.pushy("/jobs"), ""},
		{"GET", e.pushy("/jobs/" + id), ""},
		{"GET", e.pushy("/node_states"), ""},
		{"GET", e.pushy("/node_states/DONKEY"), ""},
		{"GET", e.pushy("/job_status_feed/" + id), ""},
	}
	user := "admin"
	clock := errorBody("Failed to authenticate as admin. Synchronize the clock on your host.")
	badSig := errorBody("Invalid signature for user or client 'admin'")
	matrix := []struct {
		name   string
		mutate func(h http.Header)
		status int
		body   string // "" = not checked
	}{
		{"missing X-Ops-Sign", func(h http.Header) { h.Del("X-Ops-Sign") }, 400, errorBody("missing required authentication header(s) 'X-Ops-Sign'")},
		{"empty X-Ops-Sign", func(h http.Header) { h.Set("X-Ops-Sign", "") }, 400, errorBody("missing required authentication header(s) 'X-Ops-Sign'")},
		{"X-Ops-Sign version=8.1", func(h http.Header) { h.Set("X-Ops-Sign", "version=8.1") }, 400, errorBody("Unsupported authentication protocol version")},
		{"unknown user", func(h http.Header) { h.Set("X-Ops-UserId", "nobody-here") }, 401, errorBody("Failed to authenticate as 'nobody-here'. Ensure that your node_name and client key are correct.")},
		{"user id not matching the signature", func(h http.Header) { h.Set("X-Ops-UserId", "pedant_user") }, 401, errorBody("Invalid signature for user or client 'pedant_user'")},
		{"missing timestamp", func(h http.Header) { h.Del("X-Ops-Timestamp") }, 400, errorBody("missing required authentication header(s) 'X-Ops-Timestamp'")},
		{"empty timestamp", func(h http.Header) { h.Set("X-Ops-Timestamp", "") }, 400, errorBody("missing required authentication header(s) 'X-Ops-Timestamp'")},
		{"timestamp xxx", func(h http.Header) { h.Set("X-Ops-Timestamp", "xxx") }, 401, errorBody("bad header(s) 'X-Ops-Timestamp'")},
		{"timestamp +1h", func(h http.Header) {
			h.Set("X-Ops-Timestamp", time.Now().Add(time.Hour).UTC().Format(chefauth.TimestampLayout))
		}, 401, clock},
		{"timestamp -1h", func(h http.Header) {
			h.Set("X-Ops-Timestamp", time.Now().Add(-time.Hour).UTC().Format(chefauth.TimestampLayout))
		}, 401, clock},
		{"timestamp altered after signing", func(h http.Header) {
			h.Set("X-Ops-Timestamp", time.Now().Add(-30*time.Second).UTC().Format(chefauth.TimestampLayout))
		}, 401, badSig},
		{"missing content hash", func(h http.Header) { h.Del("X-Ops-Content-Hash") }, 400, errorBody("missing required authentication header(s) 'X-Ops-Content-Hash'")},
		{"empty content hash", func(h http.Header) { h.Set("X-Ops-Content-Hash", "") }, 400, errorBody("missing required authentication header(s) 'X-Ops-Content-Hash'")},
		{"mismatched content hash", func(h http.Header) { h.Set("X-Ops-Content-Hash", "EfatjsUqKYSrqv18O1FlA3hcIHI=") }, 401, badSig},
		{"malformed content hash", func(h http.Header) { h.Set("X-Ops-Content-Hash", "&&&") }, 401, badSig},
		{"missing authorization", func(h http.Header) {
			for i := 1; i < 10; i++ {
				h.Del(fmt.Sprintf("X-Ops-Authorization-%d", i))
			}
		}, 401, badSig},
		{"malformed authorization", func(h http.Header) { h.Set("X-Ops-Authorization-1", "!!!") }, 401, badSig},
		{"authorization line 1 dropped", func(h http.Header) { h.Del("X-Ops-Authorization-1") }, 401, badSig},
		{"authorization middle line dropped", func(h http.Header) { h.Del("X-Ops-Authorization-3") }, 401, badSig},
		{"authorization last line dropped", func(h http.Header) { h.Del("X-Ops-Authorization-6") }, 401, badSig},
	}
	for _, ep := range endpoints {
		for _, m := range matrix {
			t.Run(ep.method+" "+ep.path+"/"+m.name, func(t *testing.T) {
				e.t = t
				r := e.do(&e.admin, ep.method, ep.path, ep.body, m.mutate)
				if r.status != m.status {
					t.Fatalf("got %s, want %d", r, m.status)
				}
				if m.body != "" && string(r.body) != m.body {
					t.Fatalf("body %s, want %s", r.body, m.body)
				}
				if r.status == 401 && r.header.Get("WWW-Authenticate") != chefauth.WWWAuthenticate && !strings.Contains(m.name, "timestamp") {
					t.Fatalf("401 without WWW-Authenticate")
				}
			})
		}
		// Signing protocol versions 1.0 and 1.3 succeed.
		for _, v := range []string{"1.0", "1.3"} {
			req, _ := http.NewRequest(ep.method, e.srv.URL()+ep.path, strings.NewReader(ep.body))
			req.Header.Set("Accept", "application/json")
			if strings.Contains(ep.path, "_feed") {
				req.Header.Set("Accept", "text/event-stream")
			}
			req.Header.Set("Content-Type", "application/json")
			s := &chefauth.Signer{UserID: user, Key: e.admin.key, Version: v}
			if err := s.Sign(req, []byte(ep.body)); err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode >= 300 {
				t.Errorf("%s %s signed with %s: %d", ep.method, ep.path, v, resp.StatusCode)
			}
		}
	}
	e.t = t
}

// TestAuthorizationWithoutGroups: the rules of protocol.md §2.3 when no pushy groups exist.
func TestAuthorizationWithoutGroups(t *testing.T) {
	e := newEnv(t)
	id := e.startJob(`{"command":"sleep 1","nodes":["DONKEY"]}`)
	job := `{"command":"sleep 1","nodes":["DONKEY"]}`
	notAssoc := errorBody(fmt.Sprintf("'pedant-nobody' is not associated with organization '%s'", e.org))
	invalid := errorBody("Failed to authenticate as 'invalid'. Ensure that your node_name and client key are correct.")
	badClient := errorBody("Failed to authenticate as 'bad_client'. Ensure that your node_name and client key are correct.")
	noAccess := func(n string) string {
		return errorBody(fmt.Sprintf("User or client '%s' does not have access to that action on this server.", n))
	}
	reads := []string{e.pushy("/jobs"), e.pushy("/jobs/" + id), e.pushy("/node_states"), e.pushy("/node_states/some_node")}
	for _, p := range reads {
		for _, who := range []requestor{e.admin, e.normalUser, e.adminClient, e.normalClient} {
			e.mustStatus(who, "GET", p, "", 200)
		}
		check(t, e.do(&e.invalidUser, "GET", p, "", nil), 401, invalid)
		check(t, e.do(&e.outsideUser, "GET", p, "", nil), 403, notAssoc)
		check(t, e.do(&e.badClient, "GET", p, "", nil), 401, badClient)
	}
	e.mustStatus(e.admin, "POST", e.pushy("/jobs"), job, 201)
	check(t, e.do(&e.normalUser, "POST", e.pushy("/jobs"), job, nil), 403, noAccess("pedant_user"))
	check(t, e.do(&e.normalClient, "POST", e.pushy("/jobs"), job, nil), 403, noAccess("pedant_non_admin_client"))
	check(t, e.do(&e.adminClient, "POST", e.pushy("/jobs"), job, nil), 403, noAccess("pedant_admin_client"))
	check(t, e.do(&e.invalidUser, "POST", e.pushy("/jobs"), job, nil), 401, invalid)
	check(t, e.do(&e.outsideUser, "POST", e.pushy("/jobs"), job, nil), 403, notAssoc)
	check(t, e.do(&e.badClient, "POST", e.pushy("/jobs"), job, nil), 401, badClient)

	// Config: admin, normal user and a client fetching its own name; not another node's.
	ccpk := "?ccpk=" + strings.Repeat("1", 40)
	e.mustStatus(e.admin, "GET", e.pushy("/config/DONKEY")+ccpk, "", 200)
	e.mustStatus(e.normalUser, "GET", e.pushy("/config/DONKEY")+ccpk, "", 200)
	e.mustStatus(e.normalClient, "GET", e.pushy("/config/pedant_non_admin_client")+ccpk, "", 200)
	check(t, e.do(&e.normalClient, "GET", e.pushy("/config/DONKEY")+ccpk, "", nil), 403, errorBody("Client and node name must match"))
	check(t, e.do(&e.invalidUser, "GET", e.pushy("/config/DONKEY")+ccpk, "", nil), 401, invalid)
	check(t, e.do(&e.outsideUser, "GET", e.pushy("/config/DONKEY")+ccpk, "", nil), 403, notAssoc)
	check(t, e.do(&e.badClient, "GET", e.pushy("/config/DONKEY")+ccpk, "", nil), 401, badClient)

	// A bogus org answers 404 on every route.
	for _, p := range []string{"/jobs", "/jobs/" + id, "/node_states", "/node_states/x", "/config/DONKEY" + ccpk} {
		check(t, e.do(&e.admin, "GET", "/organizations/bogus-org/pushy"+p, "", nil), 404, errorBody("organization 'bogus-org' does not exist."))
	}
	check(t, e.do(&e.admin, "POST", "/organizations/bogus-org/pushy/jobs", job, nil), 404, errorBody("organization 'bogus-org' does not exist."))
}

// TestAuthorizationWithGroups: pushy_job_readers/writers, flat and nested.
func TestAuthorizationWithGroups(t *testing.T) {
	for _, nested := range []bool{false, true} {
		t.Run(fmt.Sprintf("nested=%v", nested), func(t *testing.T) {
			e := newEnv(t)
			id := e.startJob(`{"command":"sleep 1","nodes":["DONKEY"]}`)
			users, clients := []string{"pedant_user", "pedant-nobody"}, []string{"pedant_non_admin_client"}
			for _, g := range []string{"pushy_job_readers", "pushy_job_writers"} {
				if nested {
					e.setupGroup("nested_"+g, users, clients, nil)
					e.setupGroup(g, nil, nil, []string{"nested_" + g})
				} else {
					e.setupGroup(g, users, clients, nil)
				}
			}
			job := `{"command":"sleep 1","nodes":["DONKEY"]}`
			noAccess := func(n string) string {
				return errorBody(fmt.Sprintf("User or client '%s' does not have access to that action on this server.", n))
			}
			notAssoc := errorBody(fmt.Sprintf("'pedant-nobody' is not associated with organization '%s'", e.org))
			for _, p := range []string{e.pushy("/jobs"), e.pushy("/jobs/" + id), e.pushy("/node_states"), e.pushy("/node_states/some_node")} {
				e.mustStatus(e.normalUser, "GET", p, "", 200)
				e.mustStatus(e.normalClient, "GET", p, "", 200)
				check(t, e.do(&e.admin, "GET", p, "", nil), 403, noAccess("admin"))
				check(t, e.do(&e.adminClient, "GET", p, "", nil), 403, noAccess("pedant_admin_client"))
				check(t, e.do(&e.outsideUser, "GET", p, "", nil), 403, notAssoc)
			}
			e.mustStatus(e.normalUser, "POST", e.pushy("/jobs"), job, 201)
			e.mustStatus(e.normalClient, "POST", e.pushy("/jobs"), job, 201)
			check(t, e.do(&e.admin, "POST", e.pushy("/jobs"), job, nil), 403, noAccess("admin"))
			check(t, e.do(&e.adminClient, "POST", e.pushy("/jobs"), job, nil), 403, noAccess("pedant_admin_client"))
			check(t, e.do(&e.outsideUser, "POST", e.pushy("/jobs"), job, nil), 403, notAssoc)
			ccpk := "?ccpk=" + strings.Repeat("2", 40)
			e.mustStatus(e.normalUser, "GET", e.pushy("/config/DONKEY")+ccpk, "", 200)
			check(t, e.do(&e.admin, "GET", e.pushy("/config/DONKEY")+ccpk, "", nil), 403, noAccess("admin"))
		})
	}
}

func check(t *testing.T, r response, status int, body string) {
	t.Helper()
	if r.status != status || (body != "" && string(r.body) != body) {
		t.Fatalf("got %s, want %d %s", r, status, body)
	}
}

// TestJobValidationOverHTTP: every 400 carries the exact string form; 413 and 415 as the real server.
func TestJobValidationOverHTTP(t *testing.T) {
	e := newEnv(t)
	for body, msg := range map[string]string{
		`{"nodes":["DONKEY"]}`:                                  "invalid command supplied",
		`{"command":"x","nodes":[]}`:                            "at least one node must be supplied",
		`{"command":"x","nodes":["a"],"foo":"bar"}`:             "invalid key supplied",
		`{"command":"x","nodes":["a"],"quorum":"1"}`:            "invalid type supplied for quorum (expected a number)",
		`{"command":"x","nodes":["a"],"run_timeout":"1"}`:       "invalid type supplied for run_timeout (expected a number)",
		`{"command":"x","nodes":["a"],"capture_output":"yes"}`:  "invalid type supplied for capture_output (expected a boolean)",
		`{"command":"x","nodes":["a"],"env":{"A":"1","A":"2"}}`: "invalid environment value (duplicate key)",
		`{"command":"x","nodes":["a"],"file":"foo"}`:            "invalid file contents (expected 'base64:...' or 'raw:...')",
		`{"command":"x","nodes":["a"],"file":"base64:%%%"}`:     "invalid file contents (couldn't decode base64 string)",
		`{"command":"x","nodes":["a"],"user":7}`:                "an unknown validation error has occurred",
		`not json`:                                              "invalid JSON",
		`{"command":"x","nodes":["a","a"]}`:                     "duplicate node names supplied",
	} {
		b, _ := json.Marshal(map[string]string{"error": msg})
		check(t, e.do(&e.admin, "POST", e.pushy("/jobs"), body, nil), 400, string(b))
	}
	big := `{"command":"x","nodes":["a"],"file":"raw:` + strings.Repeat("x", 100001) + `"}`
	check(t, e.do(&e.admin, "POST", e.pushy("/jobs"), big, nil), 400, `{"error":"invalid file size (must be <= 100000 bytes)"}`)
	huge := `{"command":"x","nodes":["a"],"file":"raw:` + strings.Repeat("x", 1000001) + `"}`
	check(t, e.do(&e.admin, "POST", e.pushy("/jobs"), huge, nil), 413, `{"error":"JSON must be no more than 1000000 bytes."}`)
	r := e.do(&e.admin, "POST", e.pushy("/jobs"), `{"command":"x","nodes":["a"]}`, func(h http.Header) { h.Set("Content-Type", "text/plain") })
	if r.status != 415 {
		t.Fatalf("text/plain POST: %s, want 415", r)
	}
	// Validation happens before authentication: an unknown user still gets the 400.
	check(t, e.do(&e.invalidUser, "POST", e.pushy("/jobs"), `{"nodes":["a"]}`, nil), 400, `{"error":"invalid command supplied"}`)
}

// TestJobLifecycleOffline: a job on a node that never connected fails its quorum; the job object
// and node state shapes are exact.
func TestJobLifecycleOffline(t *testing.T) {
	e := newEnv(t)
	id := e.startJob(`{"command":"sleep 1","nodes":["DONKEY"]}`)
	j := e.waitJob(id, "quorum_failed")
	keys := make([]string, 0, len(j))
	for k := range j {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if fmt.Sprint(keys) != "[command created_at id nodes run_timeout status updated_at]" {
		t.Fatalf("job keys %v", keys)
	}
	if fmt.Sprint(j["nodes"]) != "map[unavailable:[DONKEY]]" || j["run_timeout"] != float64(3600) || j["command"] != "sleep 1" {
		t.Fatalf("job %v", j)
	}
	created, err1 := time.Parse(time.RFC1123, j["created_at"].(string))
	updated, err2 := time.Parse(time.RFC1123, j["updated_at"].(string))
	if err1 != nil || err2 != nil || updated.Before(created) {
		t.Fatalf("timestamps %v %v (%v %v)", j["created_at"], j["updated_at"], err1, err2)
	}
	r := e.mustStatus(e.admin, "GET", e.pushy("/node_states/some_node"), "", 200)
	if string(r.body) != `{"node_name":"some_node","status":"offline","availability":"unavailable"}` {
		t.Fatalf("node state %s", r.body)
	}
	r = e.mustStatus(e.admin, "GET", e.pushy("/jobs"), "", 200)
	var list []map[string]any
	if err := json.Unmarshal(r.body, &list); err != nil || len(list) != 1 || list[0]["id"] != id || list[0]["nodes"] != nil {
		t.Fatalf("job list %s", r.body)
	}
	if r := e.do(&e.admin, "GET", e.pushy("/jobs/abcdefabcdef807f32d9572f8aafbd03"), "", nil); r.status != 404 {
		t.Fatalf("unknown job: %s", r)
	}
	if r := e.do(&e.admin, "GET", e.pushy("/jobs/not_a_number"), "", nil); r.status != 404 {
		t.Fatalf("bad job id: %s", r)
	}
	if r := e.do(&e.admin, "GET", e.pushy("/jobs/"+id+"/output/DONKEY/stdout"), "", nil); r.status != 404 {
		t.Fatalf("output of a node that never ran: %s", r)
	}
	// Options and include_file.
	id2 := e.startJob(`{"command":"x","nodes":["DONKEY"],"user":"root","dir":"/tmp","env":{"ENV1":"a"},"file":"raw:foo","capture_output":true,"run_timeout":25,"quorum":1}`)
	r = e.mustStatus(e.admin, "GET", e.pushy("/jobs/"+id2), "", 200)
	var j2 map[string]any
	json.Unmarshal(r.body, &j2)
	if j2["user"] != "root" || j2["dir"] != "/tmp" || fmt.Sprint(j2["env"]) != "map[ENV1:a]" || j2["file_specified"] != true || j2["file"] != nil || j2["capture_output"] != true || j2["run_timeout"] != float64(25) {
		t.Fatalf("job with options %s", r.body)
	}
	r = e.mustStatus(e.admin, "GET", e.pushy("/jobs/"+id2+"?include_file=true"), "", 200)
	j2 = map[string]any{}
	json.Unmarshal(r.body, &j2)
	if j2["file"] != "raw:foo" || j2["file_specified"] != nil {
		t.Fatalf("include_file %s", r.body)
	}
	// Content negotiation: JSON resources refuse a feed-only Accept, the feed refuses JSON.
	if r := e.do(&e.admin, "GET", e.pushy("/job_status_feed/"+id), "", func(h http.Header) { h.Set("Accept", "application/json") }); r.status != 406 {
		t.Fatalf("feed with JSON Accept: %s", r)
	}
	if r := e.do(&e.admin, "GET", e.pushy("/job_status_feed/nonexistent"), "", nil); r.status != 404 {
		t.Fatalf("feed of an unknown job: %s", r)
	}
}

// TestConfigEndpoint: §2.9 fields, ccpk checks and a session key the requestor can decrypt.
func TestConfigEndpoint(t *testing.T) {
	e := newEnv(t)
	check(t, e.do(&e.admin, "GET", e.pushy("/config/DONKEY"), "", nil), 400, errorBody("Missing ccpk"))
	check(t, e.do(&e.admin, "GET", e.pushy("/config/DONKEY?ccpk=short"), "", nil), 401, errorBody("Bad ccpk"))
	r := e.mustStatus(e.admin, "GET", e.pushy("/config/DONKEY?ccpk="+strings.Repeat("0", 40)+"&version=2.0"), "", 200)
	var c struct {
		Type     string `json:"type"`
		Host     string `json:"host"`
		PushJobs struct {
			Heartbeat struct {
				OutAddr, CommandAddr string  `json:"-"`
				Out                  string  `json:"out_addr"`
				Command              string  `json:"command_addr"`
				Interval             float64 `json:"interval"`
				Offline              int     `json:"offline_threshold"`
				Online               int     `json:"online_threshold"`
			} `json:"heartbeat"`
		} `json:"push_jobs"`
		Node, Organization, PublicKey, CurvePublicKey string
		SessionKey                                    struct{ Method, Key string } `json:"encoded_session_key"`
		Lifetime, MaxMessageSkew, MaxBodySize         int
		IncarnationID                                 string `json:"incarnation_id"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	json.Unmarshal(r.body, &raw)
	cfg := e.srv.Config()
	hb := c.PushJobs.Heartbeat
	if c.Type != "config" || hb.Out != fmt.Sprintf("tcp://127.0.0.1:%d", cfg.HeartbeatPort) || hb.Command != fmt.Sprintf("tcp://127.0.0.1:%d", cfg.CommandPort) ||
		hb.Interval != 0.1 || hb.Offline != 3 || hb.Online != 2 || raw["node"] != "DONKEY" || raw["organization"] != e.org ||
		!strings.HasPrefix(raw["public_key"].(string), "-----BEGIN PUBLIC KEY-----") || len(raw["curve_public_key"].(string)) != 40 ||
		c.SessionKey.Method != "hmac_sha256" || raw["lifetime"] != float64(3600) || raw["max_message_skew"] != float64(300) ||
		raw["max_body_size"] != float64(65536) || raw["incarnation_id"] != e.srv.IncarnationID() {
		t.Fatalf("config %s", r.body)
	}
	if !strings.Contains(string(r.body), `"interval":0.1`) {
		t.Fatalf("interval not in seconds as a float: %s", r.body)
	}
	// The session key decrypts with the requestor's key and is the same on every fetch.
	first := decryptSession(t, e.admin.key, c.SessionKey.Key)
	r = e.mustStatus(e.normalUser, "GET", e.pushy("/config/DONKEY?ccpk="+strings.Repeat("0", 40)), "", 200)
	json.Unmarshal(r.body, &raw)
	second := decryptSession(t, e.normalUser.key, raw["encoded_session_key"].(map[string]any)["key"].(string))
	if len(first) != 32 || !bytes.Equal(first, second) {
		t.Fatalf("session keys %x %x", first, second)
	}
}

func decryptSession(t *testing.T, k *rsa.PrivateKey, b64 string) []byte {
	t.Helper()
	enc, err := base64Std(b64)
	if err != nil {
		t.Fatal(err)
	}
	key, err := rsa.DecryptPKCS1v15(nil, k, enc)
	if err != nil {
		t.Fatalf("decrypting the session key: %v", err)
	}
	return key
}

// TestRestartDurability: identities and jobs survive a restart; jobs left unfinished by a previous
// run (as after a crash mid-job) become crashed at start-up, with their running nodes.
func TestRestartDurability(t *testing.T) {
	dir := t.TempDir()
	cfg := servertest.Fast(dir)
	e := newEnvWith(t, cfg)
	done := e.startJob(`{"command":"sleep 1","nodes":["DONKEY"]}`)
	e.waitJob(done, "quorum_failed")
	admin, user := e.admin, e.normalUser
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	// What a server killed mid-job leaves behind: a running job with a running node.
	st, err := store.Open(filepath.Join(dir, "pushlab.db"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	err = st.CreateJob(context.Background(), store.Job{ID: "0123456789ab0123456789abcdef0123", Org: e.org, Command: "sleep 20", Status: "running",
		RunTimeout: 3600, Quorum: 1, Requestor: "admin", CreatedAt: now, UpdatedAt: now, Nodes: map[string]string{"DONKEY": "running", "FIONA": "nacked"}})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	e.srv = servertest.Start(t, cfg)
	if e.srv.CrashedJobs() != 1 {
		t.Fatalf("crashed %d jobs at restart, want 1", e.srv.CrashedJobs())
	}
	if !e.srv.Admin.Equal(admin.key) {
		t.Fatal("admin key changed across a restart")
	}
	j := e.waitJob("0123456789ab0123456789abcdef0123", "crashed")
	if fmt.Sprint(j["nodes"]) != "map[crashed:[DONKEY] nacked:[FIONA]]" {
		t.Fatalf("nodes after restart: %v", j["nodes"])
	}
	j = e.waitJob(done, "quorum_failed")
	if fmt.Sprint(j["nodes"]) != "map[unavailable:[DONKEY]]" {
		t.Fatalf("finished job after restart: %v", j)
	}
	// Users and their memberships survived: the normal user can still read.
	e.mustStatus(user, "GET", e.pushy("/jobs"), "", 200)
}

func base64Std(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }
