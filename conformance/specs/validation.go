package specs

import (
	"encoding/base64"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pushlab/pushlab/conformance/framework"
)

// jobBody builds a POST /jobs body from a fresh node name and raw JSON fragments: "NODE" in a
// fragment is replaced by the node's name.
func jobBody(fragments ...string) (string, string) {
	node := s().Name("DONKEY")
	return strings.ReplaceAll("{"+strings.Join(fragments, ",")+"}", "NODE", node), node
}

var _ = Describe("Job creation", L("api"), func() {
	// MUST: A valid job body is accepted (201) and the job, on nodes that never connected, ends
	// quorum_failed with every node unavailable and the command and run_timeout it was given:
	// an empty command, any quorum (even one larger than the node count) and a run_timeout of 0
	// are valid.
	// Section: §2.5, §5.6
	// Supersedes: jobs_spec.rb POST validation success cases (command "" and "sleep 2"; nodes one and two; quorum missing, 1, 999; run_timeout missing, 0, 3600)
	DescribeTable("valid job bodies", func(command string, nodes int, extra []any, runTimeout int) {
		var ns []string
		for i := 0; i < nodes; i++ {
			ns = append(ns, s().Name("DONKEY"))
		}
		id := s().StartJob(job(command, ns, extra...))
		j := s().WaitJob(id, "quorum_failed")
		Expect(j.Command).To(Equal(command))
		Expect(j.RunTimeout.String()).To(Equal(itoa(runTimeout)))
		Expect(j.Nodes).To(HaveLen(1))
		Expect(j.Nodes["unavailable"]).To(ConsistOf(ns))
	},
		Entry(`command ""`, "", 1, nil, 3600),
		Entry(`command "sleep 2"`, "sleep 2", 1, nil, 3600),
		Entry("two nodes", "sleep 1", 2, nil, 3600),
		Entry("quorum 1", "sleep 1", 1, []any{"quorum", 1}, 3600),
		Entry("quorum 999 on one node", "sleep 1", 1, []any{"quorum", 999}, 3600),
		Entry("run_timeout 0", "sleep 1", 1, []any{"run_timeout", 0}, 0),
		Entry("run_timeout 3600", "sleep 1", 1, []any{"run_timeout", 3600}, 3600),
		Entry("run_timeout 25", "sleep 1", 1, []any{"run_timeout", 25}, 25),
		Entry("every option", "sleep 1", 1, []any{"quorum", 1, "run_timeout", 30, "user", "root", "dir", "/tmp",
			"env", map[string]string{"A": "1"}, "file", "raw:x", "capture_output", false}, 30),
		Entry("an empty env", "sleep 1", 1, []any{"env", map[string]string{}}, 3600),
	)

	// MUST: An invalid job body is 400 with {"error": MESSAGE} — a string, not an array — and
	// the exact message of the real server for each fault: command missing or not a string;
	// nodes missing, not an array, empty or with a non-string element; quorum, run_timeout or
	// capture_output of the wrong type; an unknown key; a duplicate env key; a file without the
	// raw:/base64: prefix, with bad base64 or over 100,000 bytes; user, dir or env of the wrong
	// type.
	// Section: §2.5
	// Supersedes: jobs_spec.rb POST validation 400 cases (vacuous in the original: fails_with_value asserted nothing)
	DescribeTable("invalid job bodies", func(msg string, fragments ...string) {
		body, _ := jobBody(fragments...)
		r := s().Do(s().Who(framework.Admin), "POST", s().Pushy("jobs"), body)
		framework.ExpectStatus(r, 400, framework.ErrorString(msg))
	}, invalidBodies())

	// MUST: Body validation comes before authentication: an unknown requestor posting an invalid
	// body gets the 400 of the body, not a 401.
	// Section: §2.2
	// Supersedes: none (new in this suite)
	It("validates the body before authenticating", L("auth"), func() {
		body, _ := jobBody(`"nodes":["NODE"]`)
		r := s().Do(s().Who(framework.InvalidUser), "POST", s().Pushy("jobs"), body)
		framework.ExpectStatus(r, 400, framework.ErrorString("invalid command supplied"))
	})

	// MUST: A POST body over 1,000,000 bytes is 413 {"error":"JSON must be no more than
	// 1000000 bytes."}.
	// Section: §2.2
	// Supersedes: end_to_end_spec.rb "POST > 1 MB → 413"
	It("refuses a body over 1,000,000 bytes", func() {
		body, _ := jobBody(`"command":"x"`, `"nodes":["NODE"]`, `"file":"raw:`+strings.Repeat("x", 1000001)+`"`)
		r := s().Do(s().Who(framework.Admin), "POST", s().Pushy("jobs"), body)
		framework.ExpectStatus(r, 413, `{"error":"JSON must be no more than 1000000 bytes."}`)
	})

	// MUST: A file of exactly 100,000 bytes (raw, or decoded from base64) is accepted.
	// Section: §2.5
	// Supersedes: end_to_end_spec.rb "file > 100,000 bytes → 400" (its boundary)
	DescribeTable("a file at the size limit", func(file string) {
		id := s().StartJob(job("x", []string{s().Name("DONKEY")}, "file", file))
		Expect(id).To(HaveLen(32))
	},
		Entry("raw", "raw:"+strings.Repeat("x", 100000)),
		Entry("base64", "base64:"+base64.StdEncoding.EncodeToString([]byte(strings.Repeat("y", 100000)))))

	// MUST: POST /jobs accepts only Content-Type application/json: another type is 415.
	// Section: §2.2
	// Supersedes: none (new in this suite)
	It("refuses a body that is not declared JSON", func() {
		body, _ := jobBody(`"command":"x"`, `"nodes":["NODE"]`)
		r := s().Do(s().Who(framework.Admin), "POST", s().Pushy("jobs"), body, setHeader("Content-Type", "text/plain"))
		Expect(r.Status).To(Equal(415), "reply %s", r)
	})

	// MUST: A body the real server cannot take (not a JSON object, duplicate node names) is
	// refused with a 4xx or 5xx status, and no job is created.
	// Section: §2.5, §14
	// Supersedes: none (new in this suite; the real server answers 500 where the reference server answers 400)
	DescribeTable("bodies the real server crashes on", func(body string) {
		before := jobCount()
		r := s().Do(s().Who(framework.Admin), "POST", s().Pushy("jobs"), strings.ReplaceAll(body, "NODE", s().Name("DONKEY")))
		Expect(r.Status).To(BeNumerically(">=", 400), "reply %s", r)
		Expect(r.Status).NotTo(Equal(201))
		Expect(jobCount()).To(Equal(before))
	},
		Entry("not JSON", `command=x`),
		Entry("a JSON array", `[1]`),
		Entry("duplicate node names", `{"command":"x","nodes":["NODE","NODE"]}`))
})

// invalidBodies is every 400 case with its exact message.
func invalidBodies() []TableEntry {
	const (
		cmd     = "invalid command supplied"
		nodes   = "at least one node must be supplied"
		key     = "invalid key supplied"
		quorum  = "invalid type supplied for quorum (expected a number)"
		timeout = "invalid type supplied for run_timeout (expected a number)"
		capture = "invalid type supplied for capture_output (expected a boolean)"
		dupEnv  = "invalid environment value (duplicate key)"
		prefix  = "invalid file contents (expected 'base64:...' or 'raw:...')"
		b64     = "invalid file contents (couldn't decode base64 string)"
		size    = "invalid file size (must be <= 100000 bytes)"
		unknown = "an unknown validation error has occurred"
	)
	n := `"nodes":["NODE"]`
	c := `"command":"x"`
	var out []TableEntry
	add := func(name, msg string, fragments ...string) {
		out = append(out, Entry(name, append([]any{msg}, toAny(fragments)...)...))
	}
	add("command missing", cmd, n)
	for _, v := range []string{`[]`, `{}`, `0`, `false`, `null`} {
		add("command "+v, cmd, `"command":`+v, n)
	}
	add("nodes missing", nodes, c)
	for _, v := range []string{`""`, `"NODE"`, `[]`, `[false]`, `[null]`, `[{}]`, `["NODE",7]`, `{}`, `0`, `false`, `null`} {
		add("nodes "+v, nodes, c, `"nodes":`+v)
	}
	for _, v := range []string{`""`, `"1"`, `[]`, `{}`, `false`, `null`} {
		add("quorum "+v, quorum, c, n, `"quorum":`+v)
	}
	for _, v := range []string{`""`, `"1"`, `[]`, `{}`, `false`, `null`} {
		add("run_timeout "+v, timeout, c, n, `"run_timeout":`+v)
	}
	for _, v := range []string{`"true"`, `1`, `[]`, `{}`} {
		add("capture_output "+v, capture, c, n, `"capture_output":`+v)
	}
	for _, v := range []string{`null`, `""`, `"bar"`, `0`} {
		add("extra key foo "+v, key, c, n, `"foo":`+v)
	}
	add("extra key quorom (misspelt)", key, c, n, `"quorom":1`)
	add("env with a duplicate key", dupEnv, c, n, `"env":{"A":"1","A":"2"}`)
	add("file without a prefix", prefix, c, n, `"file":"foo"`)
	add("file with an unknown prefix", prefix, c, n, `"file":"text:foo"`)
	add("file with bad base64", b64, c, n, `"file":"base64:%%%"`)
	add("raw file over 100,000 bytes", size, c, n, `"file":"raw:`+strings.Repeat("x", 100001)+`"`)
	add("base64 file decoding to over 100,000 bytes", size, c, n, `"file":"base64:`+base64.StdEncoding.EncodeToString([]byte(strings.Repeat("z", 100001)))+`"`)
	add("user not a string", unknown, c, n, `"user":7`)
	add("dir not a string", unknown, c, n, `"dir":["/tmp"]`)
	add("env not an object", unknown, c, n, `"env":"A=1"`)
	add("env value not a string", unknown, c, n, `"env":{"A":1}`)
	return out
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func jobCount() int {
	GinkgoHelper()
	r := s().Do(s().Who(framework.Admin), "GET", s().Pushy("jobs"), "")
	var list []any
	framework.DecodeJSON(r, &list)
	return len(list)
}
