package specs

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pushlab/pushlab/conformance/framework"
)

// groupSetup is which pushy groups exist while a group entry runs.
type groupSetup string

const (
	flatGroups    groupSetup = "flat groups"    // pushy_job_readers/writers hold the members
	nestedGroups  groupSetup = "nested groups"  // they hold nested_pushy_job_readers/writers, which hold the members
	writersOnly   groupSetup = "writers only"   // only pushy_job_writers exists (flat)
	noGroupsSetup groupSetup = "no pushy group" // nothing
)

// groupState creates and deletes the pushy groups as the entries of the table need them.
type groupState struct {
	current groupSetup
	made    []string
}

func (g *groupState) ensure(want groupSetup) {
	GinkgoHelper()
	if g.current == want {
		return
	}
	g.clear()
	users := []string{s().Who(framework.NormalUser).Name, s().Who(framework.OutsideUser).Name}
	clients := []string{s().Who(framework.NormalClient).Name}
	make := func(name string, users, clients, groups []string) {
		Expect(s().CreateGroup(name, users, clients, groups)).To(Succeed())
		g.made = append([]string{name}, g.made...)
	}
	switch want {
	case flatGroups:
		make("pushy_job_readers", users, clients, nil)
		make("pushy_job_writers", users, clients, nil)
	case nestedGroups:
		make("nested_pushy_job_readers", users, clients, nil)
		make("nested_pushy_job_writers", users, clients, nil)
		make("pushy_job_readers", nil, nil, []string{"nested_pushy_job_readers"})
		make("pushy_job_writers", nil, nil, []string{"nested_pushy_job_writers"})
	case writersOnly:
		make("pushy_job_writers", users, clients, nil)
	}
	g.current = want
}

func (g *groupState) clear() {
	GinkgoHelper()
	for _, name := range g.made {
		Expect(s().DeleteGroup(name)).To(Succeed())
	}
	g.made, g.current = nil, noGroupsSetup
}

// groupEntries crosses the group setups with operations and requestors.
func groupEntries() []TableEntry {
	type row struct {
		op string
		a  access
	}
	member := func(op string, status int) []row {
		return []row{
			{op, allowed(framework.NormalUser, status)},
			{op, allowed(framework.NormalClient, status)},
			{op, forbidden(framework.Admin)},
			{op, forbidden(framework.AdminClient)},
			{op, outside(framework.OutsideUser)},
		}
	}
	var rows []row
	rows = append(rows, member("GET jobs", 200)...)
	rows = append(rows, member("POST jobs", 201)...)
	rows = append(rows, member("GET jobs/ID", 200)...)
	rows = append(rows, member("GET node_states", 200)[:3]...)
	rows = append(rows, row{"GET node_states", outside(framework.OutsideUser)})
	rows = append(rows, member("GET node_states/NODE", 200)[:3]...)
	rows = append(rows, row{"GET node_states/NODE", outside(framework.OutsideUser)})
	rows = append(rows,
		row{"GET config/NODE", allowed(framework.NormalUser, 200)},
		row{"GET config/NODE", forbidden(framework.Admin)},
		row{"GET config/NODE", outside(framework.OutsideUser)},
		row{"GET job_status_feed/ID", allowed(framework.NormalUser, 200)},
		row{"GET job_status_feed/ID", forbidden(framework.Admin)})
	var out []TableEntry
	for _, setup := range []groupSetup{flatGroups, nestedGroups} {
		for _, r := range rows {
			out = append(out, Entry(string(setup)+": "+r.op+" as "+string(r.a.role), setup, r.op, r.a))
		}
	}
	for _, r := range []row{
		{"GET jobs", allowed(framework.Admin, 200)},
		{"GET node_states", allowed(framework.AdminClient, 200)},
		{"POST jobs", allowed(framework.NormalUser, 201)},
		{"POST jobs", forbidden(framework.Admin)},
	} {
		out = append(out, Entry(string(writersOnly)+": "+r.op+" as "+string(r.a.role), writersOnly, r.op, r.a))
	}
	return out
}

var _ = Describe("Authorization with pushy groups", L("auth"), Serial, Ordered, func() {
	groups := &groupState{current: noGroupsSetup}
	BeforeAll(func() {
		s().RequireSuperuser()
		s().OfflineJob() // created while the admin may still create jobs
	})
	AfterAll(func() { groups.clear() })

	// MUST: When pushy_job_readers exists only its members (directly or through nested groups)
	// read jobs, node states, feeds and (users) configs; when pushy_job_writers exists only its
	// members create jobs — the org admin included, who gets 403 "does not have access" when not
	// a member; a member outside the org still gets 403 "not associated"; a group that does not
	// exist does not restrict its operations.
	// Section: §2.3
	// Supersedes: jobs_spec.rb, node_states_spec.rb, config_spec.rb "With pushy_job_readers + pushy_job_writers groups" and "Nested groups"
	DescribeTable("access", func(setup groupSetup, op string, a access) {
		groups.ensure(setup)
		node := s().Name("some_node")
		switch op {
		case "GET jobs":
			a.check("GET", s().Pushy("jobs"), "")
		case "POST jobs":
			a.check("POST", s().Pushy("jobs"), mustJSON(job("sleep 1", []string{node})))
		case "GET jobs/ID":
			a.check("GET", s().Pushy("jobs/"+s().OfflineJob()), "")
		case "GET node_states":
			a.check("GET", s().Pushy("node_states"), "")
		case "GET node_states/NODE":
			if r := a.check("GET", s().Pushy("node_states/"+node), ""); r.Status == 200 {
				Expect(string(r.Body)).To(MatchJSON(offlineNodeState(node)))
			}
		case "GET config/NODE":
			a.check("GET", s().Pushy("config/"+node)+"?ccpk="+ccpk, "")
		case "GET job_status_feed/ID":
			a.check("GET", s().Pushy("job_status_feed/"+s().OfflineJob()), "")
		default:
			Fail("unknown operation " + op)
		}
	}, groupEntries())
})
