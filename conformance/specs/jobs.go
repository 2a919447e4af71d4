package specs

import (
	"encoding/base64"
	"sort"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pushlab/pushlab/conformance/framework"
)

var _ = Describe("The jobs API", L("api"), func() {
	// MUST: /pushy/jobs serves GET and POST only and /pushy/jobs/ID GET only, whether the job
	// exists or not: other methods are 405 before any authentication, with or without a
	// trailing slash.
	// Section: §2.1, §2.2
	// Supersedes: jobs_spec.rb "PUT/DELETE /pushy/jobs/ → 405; PUT/POST/DELETE /pushy/jobs/<id> → 405 (existing or not)"
	DescribeTable("methods a jobs route does not serve", func(method string, path func() string) {
		r := s().Do(framework.Requestor{}, method, path(), "")
		Expect(r.Status).To(Equal(405), "%s %s: %s", method, path(), r)
	},
		Entry("PUT jobs", "PUT", func() string { return s().Pushy("jobs") }),
		Entry("DELETE jobs", "DELETE", func() string { return s().Pushy("jobs") }),
		Entry("PUT jobs/", "PUT", func() string { return s().Pushy("jobs/") }),
		Entry("DELETE jobs/", "DELETE", func() string { return s().Pushy("jobs/") }),
		Entry("PUT an existing job", "PUT", func() string { return s().Pushy("jobs/" + s().OfflineJob()) }),
		Entry("POST an existing job", "POST", func() string { return s().Pushy("jobs/" + s().OfflineJob()) }),
		Entry("DELETE an existing job", "DELETE", func() string { return s().Pushy("jobs/" + s().OfflineJob()) }),
		Entry("PUT a job that does not exist", "PUT", func() string { return s().Pushy("jobs/abcdefabcdef807f32d9572f8aafbd03") }),
		Entry("POST a job that does not exist", "POST", func() string { return s().Pushy("jobs/abcdefabcdef807f32d9572f8aafbd03") }),
		Entry("DELETE a job that does not exist", "DELETE", func() string { return s().Pushy("jobs/abcdefabcdef807f32d9572f8aafbd03") }),
	)

	// MUST: GET of a job id the server does not know — well-formed or not — is 404.
	// Section: §2.2, §2.6
	// Supersedes: jobs_spec.rb "GET nonexistent job → 404", "404 for id not_a_number"; end_to_end_spec.rb "GET /pushy/jobs/abcdefabcdef807f32d9572f8aafbd03 → 404"
	DescribeTable("an unknown job", func(id string) {
		r := s().Do(s().Who(framework.Admin), "GET", s().Pushy("jobs/"+id), "")
		Expect(r.Status).To(Equal(404), "reply %s", r)
	}, Entry("a well-formed id", "abcdefabcdef807f32d9572f8aafbd03"), Entry("not_a_number", "not_a_number"))

	// MUST: POST /jobs answers 201 with a Location header and {"uri": URI} where URI ends in
	// /jobs/ID, ID being 32 lowercase hex characters, and the job exists (voting or later) as
	// soon as the answer is received; trailing slashes are tolerated.
	// Section: §2.4, §2.5
	// Supersedes: jobs_spec.rb "POST /jobs 201 + uri regex"
	DescribeTable("creating a job", L("smoke"), func(path string) {
		body := mustJSON(job("sleep 1", []string{s().Name("DONKEY")}))
		r := s().Do(s().Who(framework.Admin), "POST", s().Pushy(path), body)
		Expect(r.Status).To(Equal(201), "reply %s", r)
		var out map[string]any
		framework.DecodeJSON(r, &out)
		uri, _ := out["uri"].(string)
		Expect(uri).To(MatchRegexp(framework.JobURIPattern.String()))
		Expect(r.Header.Get("Location")).To(Equal(uri))
		id := uri[len(uri)-32:]
		j := s().Job(id)
		Expect(j.ID).To(Equal(id))
		Expect(j.Status).To(BeElementOf("new", "voting", "running", "quorum_failed"))
	}, Entry("POST jobs", "jobs"), Entry("POST jobs/", "jobs/"))

	// MUST: A job on a node that never connected fails its quorum, and GET /jobs/ID then shows
	// exactly command, id, run_timeout (3600 by default), status quorum_failed, created_at,
	// updated_at and nodes {"unavailable":[NODE]} — no quorum, no other key.
	// Section: §2.6, §5.6
	// Supersedes: jobs_spec.rb / jobs_util.rb exact quorum_failed body for DONKEY offline
	It("fails the quorum of a job on an offline node", L("smoke"), func() {
		node := s().Name("DONKEY")
		id := s().StartJob(job("sleep 1", []string{node}))
		j := s().WaitJob(id, "quorum_failed")
		var raw map[string]any
		Expect(jsonUnmarshal(j.Raw, &raw)).To(Succeed())
		Expect(keysOf(raw)).To(Equal([]string{"command", "created_at", "id", "nodes", "run_timeout", "status", "updated_at"}))
		Expect(raw).To(HaveKeyWithValue("command", "sleep 1"))
		Expect(raw).To(HaveKeyWithValue("id", id))
		Expect(raw).To(HaveKeyWithValue("run_timeout", BeEquivalentTo(3600)))
		Expect(j.Nodes).To(framework.HaveNodes(framework.NodeMap("unavailable", node)))
	})

	// MUST: created_at and updated_at are RFC 1123 dates and updated_at is not before created_at.
	// Section: §2.4
	// Supersedes: jobs_spec.rb "GET /jobs/<id> returns parseable created_at, updated_at, updated_at ≥ created_at"
	It("dates a job in RFC 1123", func() {
		j := s().Job(s().OfflineJob())
		created, err := time.Parse(time.RFC1123, j.CreatedAt)
		Expect(err).NotTo(HaveOccurred())
		updated, err := time.Parse(time.RFC1123, j.UpdatedAt)
		Expect(err).NotTo(HaveOccurred())
		Expect(updated).NotTo(BeTemporally("<", created))
		Expect(created).To(BeTemporally("~", time.Now(), 10*time.Minute))
	})

	// MUST: GET /jobs is a JSON array of job objects of the org (without nodes) that includes
	// every job created.
	// Section: §2.6
	// Supersedes: jobs_spec.rb "GET /jobs 200"; knife job list
	It("lists the org's jobs", func() {
		id := s().OfflineJob()
		r := s().Do(s().Who(framework.Admin), "GET", s().Pushy("jobs"), "")
		Expect(r.Status).To(Equal(200))
		var list []map[string]any
		framework.DecodeJSON(r, &list)
		var found map[string]any
		for _, j := range list {
			Expect(j).NotTo(HaveKey("nodes"))
			Expect(j).NotTo(HaveKey("file"))
			if j["id"] == id {
				found = j
			}
		}
		Expect(found).NotTo(BeNil(), "job %s in the list", id)
		Expect(found).To(HaveKeyWithValue("status", "quorum_failed"))
		Expect(found).To(HaveKeyWithValue("command", "sleep 1"))
	})

	// MUST: A job given user, dir, env, a file and capture_output shows user, dir, env,
	// capture_output true and file_specified true (never the file itself); with
	// ?include_file=true the file, with its prefix, replaces file_specified; a job without these
	// options has none of the keys.
	// Section: §2.6
	// Supersedes: end_to_end_spec.rb "Job GET shows user/dir/env, no file_specified without file; file_specified: true with file; ?include_file=true → file"
	It("shows a job's options", func() {
		node := s().Name("DONKEY")
		id := s().StartJob(job("x", []string{node}, "user", "root", "dir", "/tmp", "env", map[string]string{"ENV1": "a", "ENV2": "b"},
			"file", "raw:foo", "capture_output", true, "run_timeout", 25, "quorum", 1))
		j := s().Job(id)
		Expect(j.User).To(Equal("root"))
		Expect(j.Dir).To(Equal("/tmp"))
		Expect(j.Env).To(Equal(map[string]string{"ENV1": "a", "ENV2": "b"}))
		Expect(j.CaptureOutput).To(BeTrue())
		Expect(j.FileSpecified).To(BeTrue())
		Expect(j.File).To(BeEmpty())
		Expect(j.RunTimeout.String()).To(Equal("25"))
		jf := s().Do(s().Who(framework.Admin), "GET", s().Pushy("jobs/"+id)+"?include_file=true", "")
		var withFile map[string]any
		framework.DecodeJSON(jf, &withFile)
		Expect(withFile).To(HaveKeyWithValue("file", "raw:foo"))
		Expect(withFile).NotTo(HaveKey("file_specified"))
		Expect(withFile).NotTo(HaveKey("quorum"))

		plain := s().Job(s().StartJob(job("x", []string{s().Name("DONKEY")})))
		var raw map[string]any
		Expect(jsonUnmarshal(plain.Raw, &raw)).To(Succeed())
		for _, k := range []string{"user", "dir", "env", "file", "file_specified", "capture_output", "quorum"} {
			Expect(raw).NotTo(HaveKey(k))
		}
	})

	// MUST: A base64 file is kept as given, prefix included.
	// Section: §2.5, §2.6
	// Supersedes: end_to_end_spec.rb "file as base64 and raw"
	It("keeps a base64 file", func() {
		file := "base64:" + base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\necho hi\n"))
		id := s().StartJob(job("x", []string{s().Name("DONKEY")}, "file", file))
		r := s().Do(s().Who(framework.Admin), "GET", s().Pushy("jobs/"+id)+"?include_file=true", "")
		var j map[string]any
		framework.DecodeJSON(r, &j)
		Expect(j).To(HaveKeyWithValue("file", file))
	})

	// MUST: A job in an organization that does not exist is 404 {"error":["organization 'ORG'
	// does not exist."]} for GET /jobs, GET /jobs/ID and POST /jobs.
	// Section: §2.2
	// Supersedes: jobs_spec.rb "Bogus org → 404 for GET /jobs, GET /jobs/<id>, POST /jobs"
	DescribeTable("an organization that does not exist", func(method, path, body string) {
		org, msg := bogusOrg()
		r := s().Do(s().Who(framework.Admin), method, "/organizations/"+org+"/pushy/"+path, body)
		framework.ExpectStatus(r, 404, msg)
	},
		Entry("GET jobs", "GET", "jobs", ""),
		Entry("GET jobs/ID", "GET", "jobs/abcdefabcdef807f32d9572f8aafbd03", ""),
		Entry("POST jobs", "POST", "jobs", `{"command":"sleep 1","nodes":["DONKEY"]}`))

	// MUST: Without pushy groups any org member, user or client, reads the job list and a job;
	// an unknown user or a client with a bogus key gets 401 and a user outside the org 403
	// "not associated", with their exact bodies.
	// Section: §2.3
	// Supersedes: jobs_spec.rb "No groups: GET /jobs, POST /jobs, GET /jobs/<id> for admin, normal user, client, invalid user, outside user, bogus client"
	DescribeTable("who may use jobs without groups", L("auth"), func(op string, a access) {
		switch op {
		case "GET jobs":
			a.check("GET", s().Pushy("jobs"), "")
		case "GET jobs/ID":
			a.check("GET", s().Pushy("jobs/"+s().OfflineJob()), "")
		case "POST jobs":
			a.check("POST", s().Pushy("jobs"), mustJSON(job("sleep 1", []string{s().Name("DONKEY")})))
		}
	}, accessEntries([]string{"GET jobs", "GET jobs/ID"}, readersWithoutGroups))

	// MUST: POST /jobs without pushy groups: 201 for the org admin; 403 "does not have access" for a
	// normal user and for clients that are not in admins; 401/403 for unknown and outside
	// requestors.
	// Section: §2.3
	// Supersedes: jobs_spec.rb "POST /jobs 201 admin; 403 normal user and non-admin client; 401 invalid; 403 outside; 401 bogus client"
	DescribeTable("who may create jobs without groups", L("auth"), func(a access) {
		a.check("POST", s().Pushy("jobs"), mustJSON(job("sleep 1", []string{s().Name("DONKEY")})))
	},
		Entry("the admin user", allowed(framework.Admin, 201)),
		Entry("a normal user", forbidden(framework.NormalUser)),
		Entry("an admin client outside admins", forbidden(framework.AdminClient)),
		Entry("a non-admin client", forbidden(framework.NormalClient)),
		Entry("an invalid user", unknown(framework.InvalidUser)),
		Entry("an outside user", outside(framework.OutsideUser)),
		Entry("a client with a bogus key", unknown(framework.BadClient)))
})

// readersWithoutGroups is who may read without pushy groups (protocol.md §2.3).
var readersWithoutGroups = []struct {
	name string
	a    access
}{
	{"the admin user", allowed(framework.Admin, 200)},
	{"a normal user", allowed(framework.NormalUser, 200)},
	{"an admin client", allowed(framework.AdminClient, 200)},
	{"a non-admin client", allowed(framework.NormalClient, 200)},
	{"an invalid user", unknown(framework.InvalidUser)},
	{"an outside user", outside(framework.OutsideUser)},
	{"a client with a bogus key", unknown(framework.BadClient)},
}

// accessEntries crosses operations with requestors.
func accessEntries(ops []string, rows []struct {
	name string
	a    access
}) []TableEntry {
	var out []TableEntry
	for _, op := range ops {
		for _, r := range rows {
			out = append(out, Entry(op+" as "+r.name, op, r.a))
		}
	}
	return out
}

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
