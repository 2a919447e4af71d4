package specs

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	zmq "github.com/pebbe/zmq4"

	"github.com/pushlab/pushlab/conformance/framework"
	"github.com/pushlab/pushlab/internal/pushyclient"
	"github.com/pushlab/pushlab/internal/sse"
	"github.com/pushlab/pushlab/simulator/checks"
)

// L returns registered labels (an unknown one panics while the tree is built).
func L(names ...string) Labels { return framework.Label(names...) }

// ccpk is a well-formed CURVE public key (Z85, 40 characters), query-escaped, for config
// requests that do not connect afterwards.
var ccpk = func() string {
	pub, _, err := zmq.NewCurveKeypair()
	if err != nil {
		panic(err)
	}
	return url.QueryEscape(pub)
}()

// job is a job body; extra keys are merged in.
func job(command string, nodes []string, extra ...any) map[string]any {
	m := map[string]any{"command": command, "nodes": nodes}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// names returns the peers' node names.
func names(ps ...*framework.Peer) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Node
	}
	return out
}

// aliases maps each peer's node name to a letter, A first, for comparing event lines.
func aliases(ps ...*framework.Peer) map[string]string {
	m := map[string]string{}
	for i, p := range ps {
		m[p.Node] = string(rune('A' + i))
	}
	return m
}

// expectLines compares event lines exactly.
func expectLines(evs []sse.Event, alias map[string]string, want ...string) {
	GinkgoHelper()
	Expect(framework.Lines(evs, alias)).To(Equal(want), "SSE events")
}

// checkFeed runs the pure job feed checker, with the final job when given.
func checkFeed(evs []sse.Event, j *pushyclient.Job, quorum int) {
	GinkgoHelper()
	var out *checks.JobOutcome
	if j != nil {
		o := framework.Outcome(j, quorum)
		out = &o
		framework.ExpectNoViolations(checks.Outcome(o), "job outcome")
	}
	framework.ExpectNoViolations(checks.JobFeed(framework.ForChecks(evs), out), "job feed")
}

// requestAs sends a request as role.
func requestAs(role framework.Role, method, path, body string, mutate ...func(http.Header)) framework.Response {
	GinkgoHelper()
	return s().Do(s().Who(role), method, path, body, mutate...)
}

// noAccess is the 403 of the group check.
func noAccess(name string) string {
	return framework.ErrorArray(fmt.Sprintf("User or client '%s' does not have access to that action on this server.", name))
}

// notAssociated is the 403 of a principal outside the org.
func notAssociated(name string) string {
	return framework.ErrorArray(fmt.Sprintf("'%s' is not associated with organization '%s'", name, s().Target.Org()))
}

// failedAuth is the 401 of an unknown principal.
func failedAuth(name string) string {
	return framework.ErrorArray(fmt.Sprintf("Failed to authenticate as '%s'. Ensure that your node_name and client key are correct.", name))
}

// bogusOrg is an organization that does not exist, and its 404 body.
func bogusOrg() (string, string) {
	org := "cf-bogus-" + s().RunID
	return org, framework.ErrorArray(fmt.Sprintf("organization '%s' does not exist.", org))
}

// access is one row of an authorization table: who asks, and the answer.
type access struct {
	role   framework.Role
	status int
	body   func(who framework.Requestor) string // nil: not compared
}

func allowed(role framework.Role, status int) access { return access{role: role, status: status} }

func forbidden(role framework.Role) access {
	return access{role, 403, func(w framework.Requestor) string { return noAccess(w.Name) }}
}

func outside(role framework.Role) access {
	return access{role, 403, func(w framework.Requestor) string { return notAssociated(w.Name) }}
}

func unknown(role framework.Role) access {
	return access{role, 401, func(w framework.Requestor) string { return failedAuth(w.Name) }}
}

// check sends the request as the row's role and checks status and exact body.
func (a access) check(method, path, body string) framework.Response {
	GinkgoHelper()
	who := s().Who(a.role)
	r := s().Do(who, method, path, body)
	want := ""
	if a.body != nil {
		want = a.body(who)
	}
	framework.ExpectStatus(r, a.status, want)
	return r
}

// offlineNodeState is the named node state of a node that never connected (protocol.md §2.8).
func offlineNodeState(node string) string {
	return fmt.Sprintf(`{"node_name":%q,"status":"offline","availability":"unavailable"}`, node)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func itoa(n int) string { return fmt.Sprint(n) }

// setHeader changes a header after signing.
func setHeader(k, v string) func(http.Header) { return func(h http.Header) { h.Set(k, v) } }

func ctx() context.Context { return context.Background() }
