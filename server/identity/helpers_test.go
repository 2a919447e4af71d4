package identity_test

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/server/identity"
	"github.com/pushlab/pushlab/server/store"
)

const testOrg = "pushlab"

// testKeys are generated once: RSA key generation is slow and any key will do.
var testKeys []*rsa.PrivateKey

func TestMain(m *testing.M) {
	for range 4 {
		k, err := chefauth.GenerateKey()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		testKeys = append(testKeys, k)
	}
	os.Exit(m.Run())
}

func pubPEM(k *rsa.PrivateKey) string { return string(chefauth.EncodePublicKeyPEM(&k.PublicKey)) }

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// actor is someone who signs requests.
type actor struct {
	name string
	key  *rsa.PrivateKey
}

// env is a bootstrapped directory served over HTTP on 127.0.0.1.
type env struct {
	t                         testing.TB
	st                        *store.Store
	dir                       *identity.Directory
	srv                       *httptest.Server
	clock                     *clock
	boot                      identity.BootstrapResult
	pivotal, admin, validator actor
	dbPath                    string
}

type envOption func(*identity.Options)

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pushlab.db")
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{t: time.Now().UTC()}
	o := identity.Options{Now: clk.Now}
	for _, f := range opts {
		f(&o)
	}
	d := identity.New(st, o)
	boot, err := d.Bootstrap(context.Background(), testOrg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(srv.Close)
	e := &env{t: t, st: st, dir: d, srv: srv, clock: clk, boot: boot, dbPath: path}
	e.pivotal = actor{"pivotal", mustKey(t, boot.SuperuserKey)}
	e.admin = actor{"admin", mustKey(t, boot.AdminKey)}
	e.validator = actor{testOrg + "-validator", mustKey(t, boot.ValidatorKey)}
	return e
}

func mustKey(t testing.TB, pem []byte) *rsa.PrivateKey {
	t.Helper()
	k, err := chefauth.ParsePrivateKeyPEM(pem)
	if err != nil {
		t.Fatalf("parsing key %q: %v", pem, err)
	}
	return k
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// obj decodes the body as a JSON object.
func (r response) obj(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	return m
}

// req describes one request: who signs (nil: unsigned), API version ("" = header absent),
// and header changes applied after signing.
type req struct {
	who    *actor
	api    string
	mutate func(http.Header)
}

func (e *env) send(q req, method, path, body string) response {
	e.t.Helper()
	r, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	r.Header.Set("Accept", "application/json")
	r.Header.Set("Content-Type", "application/json")
	if q.who != nil {
		s := &chefauth.Signer{UserID: q.who.name, Key: q.who.key, Version: "1.1", ServerAPIVersion: q.api, Now: e.clock.Now}
		if err := s.Sign(r, []byte(body)); err != nil {
			e.t.Fatal(err)
		}
	}
	if q.api == "" {
		r.Header.Del("X-Ops-Server-API-Version")
	} else {
		r.Header.Set("X-Ops-Server-API-Version", q.api)
	}
	if q.mutate != nil {
		q.mutate(r.Header)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(r.WithContext(ctx))
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

// do sends a request signed by who at API version 0.
func (e *env) do(who actor, method, path, body string) response {
	e.t.Helper()
	return e.send(req{who: &who, api: "0"}, method, path, body)
}

// must sends and checks the status.
func (e *env) must(who actor, method, path, body string, status int) response {
	e.t.Helper()
	r := e.do(who, method, path, body)
	if r.status != status {
		e.t.Fatalf("%s %s as %s: got %s, want %d", method, path, who.name, r, status)
	}
	return r
}

// expect checks status and, when body is not "", the exact body.
func expect(t testing.TB, r response, status int, body string) {
	t.Helper()
	if r.status != status || (body != "" && string(r.body) != body) {
		t.Fatalf("got %s, want %d %s", r, status, body)
	}
}

func errBody(msg string) string {
	b, _ := json.Marshal(map[string][]string{"error": {msg}})
	return string(b)
}

func errString(msg string) string {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return string(b)
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func (e *env) orgPath(p string) string { return "/organizations/" + testOrg + p }

// createUser creates a user with key k through the API, associated with the org when asked.
func (e *env) createUser(name string, k *rsa.PrivateKey, associate bool) actor {
	e.t.Helper()
	body := jsonString(map[string]string{"username": name, "email": name + "@example.com", "display_name": name,
		"first_name": name, "last_name": name, "password": "foobar", "public_key": pubPEM(k)})
	e.must(e.pivotal, "POST", "/users", body, 201)
	if associate {
		e.must(e.pivotal, "POST", e.orgPath("/users"), jsonString(map[string]string{"username": name}), 201)
	}
	return actor{name, k}
}

// createClient creates a client with key k through the API.
func (e *env) createClient(name string, k *rsa.PrivateKey) actor {
	e.t.Helper()
	e.must(e.pivotal, "POST", e.orgPath("/clients"), jsonString(map[string]string{"name": name, "public_key": pubPEM(k)}), 201)
	return actor{name, k}
}

// setGroup creates (when missing) a group and sets its members as pedant's setup_group does.
func (e *env) setGroup(name string, users, clients, groups []string) {
	e.t.Helper()
	if r := e.do(e.pivotal, "GET", e.orgPath("/groups/"+name), ""); r.status == 404 {
		e.must(e.pivotal, "POST", e.orgPath("/groups"), jsonString(map[string]string{"groupname": name}), 201)
	}
	nn := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	body := jsonString(map[string]any{"groupname": name, "actors": map[string]any{"users": nn(users), "clients": nn(clients), "groups": nn(groups)}})
	e.must(e.pivotal, "PUT", e.orgPath("/groups/"+name), body, 200)
}

// group fetches a group as pivotal.
func (e *env) group(name string) map[string]any {
	e.t.Helper()
	return e.must(e.pivotal, "GET", e.orgPath("/groups/"+name), "", 200).obj(e.t)
}

func list(v any) string { return fmt.Sprint(v) }
