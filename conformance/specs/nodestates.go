package specs

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pushlab/pushlab/conformance/framework"
)

var _ = Describe("The node states API", L("api"), func() {
	// MUST: node_states and node_states/NODE serve only GET: PUT, POST and DELETE are 405 before
	// any authentication, with or without a trailing slash.
	// Section: §2.1, §2.2
	// Supersedes: node_states_spec.rb "PUT/POST/DELETE on /node_states/ and /node_states/<n> → 405"
	DescribeTable("methods other than GET", func(method, path string) {
		r := s().Do(framework.Requestor{}, method, s().Pushy(path), "")
		Expect(r.Status).To(Equal(405), "reply %s", r)
	},
		Entry("PUT node_states", "PUT", "node_states"),
		Entry("POST node_states", "POST", "node_states"),
		Entry("DELETE node_states", "DELETE", "node_states"),
		Entry("PUT node_states/", "PUT", "node_states/"),
		Entry("POST node_states/", "POST", "node_states/"),
		Entry("DELETE node_states/", "DELETE", "node_states/"),
		Entry("PUT node_states/NODE", "PUT", "node_states/some_node"),
		Entry("POST node_states/NODE", "POST", "node_states/some_node"),
		Entry("DELETE node_states/NODE", "DELETE", "node_states/some_node"))

	// MUST: Without pushy groups every org member, user or client, reads the node list and a
	// named node state; a named node that never connected is 200 with exactly
	// {"node_name":NODE,"status":"offline","availability":"unavailable"}; unknown requestors
	// get 401 and outside users 403 with their exact bodies.
	// Section: §2.3, §2.8
	// Supersedes: node_states_spec.rb "No groups: GET list and named for admin, normal user, client; 401 invalid; 403 outside; 401 bogus client; exact offline body"
	DescribeTable("who may read node states without groups", L("auth"), func(op string, a access) {
		node := s().Name("some_node")
		switch op {
		case "GET node_states":
			r := a.check("GET", s().Pushy("node_states"), "")
			if r.Status == 200 {
				var list []map[string]any
				framework.DecodeJSON(r, &list)
			}
		case "GET node_states/NODE":
			r := a.check("GET", s().Pushy("node_states/"+node), "")
			if r.Status == 200 {
				Expect(string(r.Body)).To(MatchJSON(offlineNodeState(node)))
			}
		}
	}, accessEntries([]string{"GET node_states", "GET node_states/NODE"}, readersWithoutGroups))

	// MUST: node_states in an organization that does not exist is 404 "organization 'ORG' does
	// not exist.", for the list and a named node.
	// Section: §2.2
	// Supersedes: node_states_spec.rb "Bogus org → 404 (list and named)"
	DescribeTable("an organization that does not exist", func(path string) {
		org, msg := bogusOrg()
		r := s().Do(s().Who(framework.Admin), "GET", "/organizations/"+org+"/pushy/"+path, "")
		framework.ExpectStatus(r, 404, msg)
	}, Entry("the list", "node_states"), Entry("a named node", "node_states/some_node"))

	// MUST: A node that never connected is absent from the list, and its named state is
	// offline and unavailable.
	// Section: §2.8
	// Supersedes: node_states_spec.rb "named → exact body" (the skipped 404 cases: the real server answers 200)
	It("does not list a node that never connected", func() {
		node := s().Name("some_node")
		states, err := s().API.NodeStates(ctx())
		Expect(err).NotTo(HaveOccurred())
		for _, st := range states {
			Expect(st.NodeName).NotTo(Equal(node))
		}
		r := s().Do(s().Who(framework.Admin), "GET", s().Pushy("node_states/"+node), "")
		framework.ExpectStatus(r, 200, offlineNodeState(node))
	})

	// MUST: A connected node that answered its abort is listed {"node_name","availability":
	// "available"} (exactly those two keys), and its named state is online and available.
	// Section: §2.8, §4.5
	// Supersedes: end_to_end_spec.rb node status checks (knife node status)
	It("lists a connected node as available", L("liveness", "smoke"), func() {
		p := s().Peer("FIONA")
		states, err := s().API.NodeStates(ctx())
		Expect(err).NotTo(HaveOccurred())
		var mine []map[string]any
		for _, st := range states {
			if st.NodeName == p.Node {
				var m map[string]any
				Expect(jsonUnmarshal(st.Raw, &m)).To(Succeed())
				mine = append(mine, m)
			}
		}
		Expect(mine).To(HaveLen(1))
		Expect(mine[0]).To(Equal(map[string]any{"node_name": p.Node, "availability": "available"}))
		r := s().Do(s().Who(framework.Admin), "GET", s().Pushy("node_states/"+p.Node), "")
		framework.ExpectStatus(r, 200, `{"node_name":"`+p.Node+`","status":"online","availability":"available"}`)
	})
})

var _ = Describe("The status endpoint", L("api"), func() {
	// MUST: /pushy/_status serves only GET: PUT, POST and DELETE are 405.
	// Section: §2.10
	// Supersedes: status_spec.rb "PUT/POST/DELETE /pushy/_status → 405"
	DescribeTable("methods other than GET", func(method string) {
		r := s().Do(framework.Requestor{}, method, "/pushy/_status", "")
		Expect(r.Status).To(Equal(405), "reply %s", r)
	}, Entry("PUT", "PUT"), Entry("POST", "POST"), Entry("DELETE", "DELETE"))

	// MUST: GET /pushy/_status needs no authentication: it answers 200 to anyone, signed or not,
	// member or not, known or not.
	// Section: §2.3, §2.10
	// Supersedes: status_spec.rb "GET → 200 for admin, normal user, admin client, invalid user, outside user"
	DescribeTable("who may read the status", L("auth"), func(role framework.Role) {
		who := framework.Requestor{}
		if role != "" {
			who = s().Who(role)
		}
		r := s().Do(who, "GET", "/pushy/_status", "")
		Expect(r.Status).To(Equal(200), "reply %s", r)
	},
		Entry("the admin user", framework.Admin),
		Entry("a normal user", framework.NormalUser),
		Entry("an admin client", framework.AdminClient),
		Entry("an invalid user", framework.InvalidUser),
		Entry("an outside user", framework.OutsideUser),
		Entry("an unsigned request", framework.Role("")))

	// MUST: The status is {"status":"it's alive","incarnation_id":ID,"node_fsm_count":N,
	// "job_processes":[...]}, node_fsm_count a number and job_processes an array of job ids.
	// Section: §2.10
	// Supersedes: status_spec.rb; end_to_end_spec.rb node_fsm_count checks
	It("says it is alive", L("smoke"), func() {
		r := s().Do(framework.Requestor{}, "GET", "/pushy/_status", "")
		Expect(r.Status).To(Equal(200))
		var st map[string]any
		framework.DecodeJSON(r, &st)
		Expect(st).To(HaveKeyWithValue("status", "it's alive"))
		Expect(st["incarnation_id"]).To(BeAssignableToTypeOf(""))
		Expect(st["incarnation_id"]).NotTo(BeEmpty())
		Expect(st["node_fsm_count"]).To(BeAssignableToTypeOf(float64(0)))
		Expect(st["job_processes"]).To(BeAssignableToTypeOf([]any{}))
	})

	// MUST: node_fsm_count counts node state machines: a newly connected node adds one.
	// Section: §2.10
	// Supersedes: end_to_end_spec.rb "_status node_fsm_count 1 (and 0 after shutdown)"
	It("counts connected nodes", L("liveness"), func() {
		before := fsmCount()
		p := s().Peer("DONKEY")
		Eventually(fsmCount).Should(BeNumerically(">=", before+1))
		_ = p
	})
})

func fsmCount() int {
	GinkgoHelper()
	st, err := s().API.Status(ctx())
	Expect(err).NotTo(HaveOccurred())
	n, err := st.NodeFSMCount.Int64()
	Expect(err).NotTo(HaveOccurred())
	return int(n)
}
