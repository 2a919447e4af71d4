package specs

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pushlab/pushlab/conformance/framework"
	"github.com/pushlab/pushlab/internal/chefauth"
)

// endpoint is one signed Push Jobs resource the header matrix runs on.
type endpoint struct {
	name   string
	method string
	path   func() string
	body   func() string
	ok     int
}

func noBody() string { return "" }

var signedEndpoints = []endpoint{
	{"GET config/NODE", "GET", func() string { return s().Pushy("config/"+s().Name("DONKEY")) + "?ccpk=" + ccpk }, noBody, 200},
	{"POST jobs", "POST", func() string { return s().Pushy("jobs") }, func() string { return mustJSON(job("sleep 1", []string{s().Name("DONKEY")})) }, 201},
	{"GET jobs", "GET", func() string { return s().Pushy("jobs") }, noBody, 200},
	{"GET jobs/ID", "GET", func() string { return s().Pushy("jobs/" + s().OfflineJob()) }, noBody, 200},
	{"GET node_states", "GET", func() string { return s().Pushy("node_states") }, noBody, 200},
	{"GET node_states/NODE", "GET", func() string { return s().Pushy("node_states/" + s().Name("some_node")) }, noBody, 200},
	{"GET job_status_feed/ID", "GET", func() string { return s().Pushy("job_status_feed/" + s().OfflineJob()) }, noBody, 200},
}

// headerCase is one row of the original suite's auth-header matrix (protocol.md §3).
type headerCase struct {
	name    string
	mutate  func(h http.Header)
	status  int
	body    func(user string) string
	wwwAuth bool // a 401 that must carry WWW-Authenticate
}

func missing(h string) func(string) string {
	return func(string) string {
		return framework.ErrorArray(fmt.Sprintf("missing required authentication header(s) '%s'", h))
	}
}

func badSignature(user string) string {
	return framework.ErrorArray(fmt.Sprintf("Invalid signature for user or client '%s'", user))
}

func clockSkew(user string) string {
	return framework.ErrorArray(fmt.Sprintf("Failed to authenticate as %s. Synchronize the clock on your host.", user))
}

func stamp(d time.Duration) string { return time.Now().Add(d).UTC().Format(chefauth.TimestampLayout) }

func dropAuthorization(h http.Header, which func(n int) int) {
	n := 0
	for k := range h {
		if strings.HasPrefix(k, "X-Ops-Authorization-") {
			n++
		}
	}
	h.Del(fmt.Sprintf("X-Ops-Authorization-%d", which(n)))
}

var headerCases = []headerCase{
	{"no authentication headers at all", func(h http.Header) {
		for k := range h {
			if strings.HasPrefix(k, "X-Ops-") {
				h.Del(k)
			}
		}
	}, 400, func(string) string {
		return framework.ErrorArray("missing required authentication header(s) 'X-Ops-UserId', 'X-Ops-Timestamp', 'X-Ops-Sign', 'X-Ops-Content-Hash'")
	}, false},
	{"missing X-Ops-Sign", func(h http.Header) { h.Del("X-Ops-Sign") }, 400, missing("X-Ops-Sign"), false},
	{"empty X-Ops-Sign", func(h http.Header) { h.Set("X-Ops-Sign", "") }, 400, missing("X-Ops-Sign"), false},
	{"X-Ops-Sign version=8.1", func(h http.Header) { h.Set("X-Ops-Sign", "version=8.1") }, 400,
		func(string) string { return framework.ErrorArray("Unsupported authentication protocol version") }, false},
	{"missing X-Ops-Timestamp", func(h http.Header) { h.Del("X-Ops-Timestamp") }, 400, missing("X-Ops-Timestamp"), false},
	{"empty X-Ops-Timestamp", func(h http.Header) { h.Set("X-Ops-Timestamp", "") }, 400, missing("X-Ops-Timestamp"), false},
	{"missing X-Ops-Content-Hash", func(h http.Header) { h.Del("X-Ops-Content-Hash") }, 400, missing("X-Ops-Content-Hash"), false},
	{"empty X-Ops-Content-Hash", func(h http.Header) { h.Set("X-Ops-Content-Hash", "") }, 400, missing("X-Ops-Content-Hash"), false},
	{"missing X-Ops-UserId", func(h http.Header) { h.Del("X-Ops-UserId") }, 400, missing("X-Ops-UserId"), false},
	{"unparsable X-Ops-Timestamp xxx", func(h http.Header) { h.Set("X-Ops-Timestamp", "xxx") }, 401,
		func(string) string { return framework.ErrorArray("bad header(s) 'X-Ops-Timestamp'") }, false},
	{"X-Ops-Timestamp an hour ahead", func(h http.Header) { h.Set("X-Ops-Timestamp", stamp(time.Hour)) }, 401, clockSkew, false},
	{"X-Ops-Timestamp an hour behind", func(h http.Header) { h.Set("X-Ops-Timestamp", stamp(-time.Hour)) }, 401, clockSkew, false},
	{"X-Ops-Timestamp changed after signing", func(h http.Header) { h.Set("X-Ops-Timestamp", stamp(-30*time.Second)) }, 401, badSignature, true},
	{"unknown X-Ops-UserId", func(h http.Header) { h.Set("X-Ops-UserId", "cf-nobody-"+s().RunID) }, 401,
		func(string) string { return failedAuth("cf-nobody-" + s().RunID) }, true},
	{"mismatched X-Ops-Content-Hash", func(h http.Header) { h.Set("X-Ops-Content-Hash", "EfatjsUqKYSrqv18O1FlA3hcIHI=") }, 401, badSignature, true},
	{"malformed X-Ops-Content-Hash", func(h http.Header) { h.Set("X-Ops-Content-Hash", "&&&") }, 401, badSignature, true},
	{"no X-Ops-Authorization headers", func(h http.Header) {
		for k := range h {
			if strings.HasPrefix(k, "X-Ops-Authorization-") {
				h.Del(k)
			}
		}
	}, 401, badSignature, true},
	{"malformed X-Ops-Authorization-1", func(h http.Header) { h.Set("X-Ops-Authorization-1", "!!!") }, 401, badSignature, true},
	{"empty X-Ops-Authorization-1", func(h http.Header) { h.Set("X-Ops-Authorization-1", "") }, 401, badSignature, true},
	{"X-Ops-Authorization first line dropped", func(h http.Header) { dropAuthorization(h, func(int) int { return 1 }) }, 401, badSignature, true},
	{"X-Ops-Authorization middle line dropped", func(h http.Header) { dropAuthorization(h, func(n int) int { return (n + 1) / 2 }) }, 401, badSignature, true},
	{"X-Ops-Authorization last line dropped", func(h http.Header) { dropAuthorization(h, func(n int) int { return n }) }, 401, badSignature, true},
}

// matrixEntries is every endpoint with every header case.
func matrixEntries() []TableEntry {
	var out []TableEntry
	for _, ep := range signedEndpoints {
		for _, c := range headerCases {
			out = append(out, Entry(ep.name+": "+c.name, ep, c))
		}
	}
	return out
}

// signingEntries is every endpoint signed in every accepted way.
func signingEntries() []TableEntry {
	var out []TableEntry
	for _, ep := range signedEndpoints {
		for _, v := range []string{"1.0", "1.1", "1.3"} {
			out = append(out, Entry(ep.name+": signed with protocol "+v, ep, v, time.Duration(0)))
		}
		out = append(out, Entry(ep.name+": signed 30 s in the past", ep, "1.1", -30*time.Second))
	}
	return out
}

var _ = Describe("Authentication headers", L("auth"), func() {
	// MUST: Every signed Push Jobs endpoint checks the Chef authentication headers before
	// anything else: a missing or empty X-Ops-Sign, X-Ops-UserId, X-Ops-Timestamp or
	// X-Ops-Content-Hash is 400 naming the header; an unsupported signing version is 400; an
	// unparsable or skewed (±1 h) timestamp is 401; an unknown user, a wrong content hash and a
	// missing, malformed, empty or partial X-Ops-Authorization-N is 401 — each with its exact
	// {"error":[...]} body, and a 401 for a bad signature carries WWW-Authenticate.
	// Section: §2.2, §3
	// Supersedes: auth_headers_util.rb (oc-chef-pedant) as used by config_spec.rb, jobs_spec.rb, node_states_spec.rb; the GET /jobs block that was :skip
	DescribeTable("the header matrix", func(ep endpoint, c headerCase) {
		admin := s().Who(framework.Admin)
		r := s().Do(admin, ep.method, ep.path(), ep.body(), c.mutate)
		framework.ExpectStatus(r, c.status, c.body(admin.Name))
		if c.wwwAuth {
			Expect(r.Header.Get("WWW-Authenticate")).To(Equal(chefauth.WWWAuthenticate), "WWW-Authenticate of the 401")
		}
	}, matrixEntries())

	// MUST: A request signed with protocol 1.0, 1.1 or 1.3, or with a timestamp 30 s in the
	// past (inside the 900 s window), is accepted by every signed endpoint.
	// Section: §3
	// Supersedes: auth_headers_util.rb "successful 1.3 signing" and "-30 s timestamp" cases
	DescribeTable("accepted signatures", L("smoke"), func(ep endpoint, version string, skew time.Duration) {
		admin := s().Who(framework.Admin)
		signer := &chefauth.Signer{UserID: admin.Name, Key: admin.Key, Version: version}
		if skew != 0 {
			signer.Now = func() time.Time { return time.Now().Add(skew) }
		}
		r := s().DoSigned(signer, ep.method, ep.path(), ep.body())
		Expect(r.Status).To(Equal(ep.ok), "reply %s", r)
	}, signingEntries())

	// MUST: A request whose X-Ops-UserId names another existing user than the one whose key
	// signed it is 401 "Invalid signature for user or client 'NAME'" on every endpoint.
	// Section: §3
	// Supersedes: auth_headers_util.rb "UserId not matching signature"
	DescribeTable("a user id that does not match the signature", func(ep endpoint) {
		other := s().Who(framework.NormalUser)
		r := s().Do(s().Who(framework.Admin), ep.method, ep.path(), ep.body(), func(h http.Header) { h.Set("X-Ops-UserId", other.Name) })
		framework.ExpectStatus(r, 401, badSignature(other.Name))
	}, func() []TableEntry {
		var out []TableEntry
		for _, ep := range signedEndpoints {
			out = append(out, Entry(ep.name, ep))
		}
		return out
	}())
})
