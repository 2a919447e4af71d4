package specs

import (
	"encoding/json"
	"regexp"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pushlab/pushlab/conformance/framework"
	"github.com/pushlab/pushlab/internal/wire"
)

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// completedJob runs a one-node job to success with a peer and returns its id and job feed
// events, having opened the org feed before.
func completedJob() (string, *framework.FeedLog, *framework.Peer) {
	GinkgoHelper()
	org := s().OrgFeed("")
	p := s().Peer("DONKEY")
	id, feed := startOn("chef-client", 1, 60, p)
	commitAndRun(p, id)
	p.Send(wire.TypeSucceeded, id)
	feed.Drain()
	orgEventsOf(org, id, 2)
	return id, org, p
}

var _ = Describe("Where the code and the docs disagree", func() {
	// MUST: Under the pushy-3.0 profile a target behaves as the real server's code on every
	// point of protocol.md §11 it can be observed on; under the docs profile, as the public docs
	// say. Behaving as the other reading is a documented deviation: a non-strict verdict (a
	// failure with -conformance.strict); behaving as neither fails.
	// Section: §11
	// Supersedes: none (new in this suite)
	DescribeTable("readings", func(read func() framework.Reading) {
		s().Judge(read())
	},
		Entry("1: the feed path", L("sse"), func() framework.Reading {
			id := s().OfflineJob()
			code := s().Do(s().Who(framework.Admin), "GET", s().Pushy("job_status_feed/"+id), "")
			docs := s().Do(s().Who(framework.Admin), "GET", s().Pushy("jobs_status_feed/"+id), "")
			return framework.Reading{Item: 1, What: "feed path", Observed: "job_status_feed " + code.String()[:3] + ", jobs_status_feed " + docs.String()[:3],
				Code: code.Status == 200, Docs: docs.Status == 200}
		}),
		Entry("2: the feed media type", L("sse"), func() framework.Reading {
			path := s().Pushy("job_status_feed/" + s().OfflineJob())
			code := s().Do(s().Who(framework.Admin), "GET", path, "", setHeader("Accept", "text/event-stream"))
			docs := s().Do(s().Who(framework.Admin), "GET", path, "", setHeader("Accept", "application/event-stream"))
			return framework.Reading{Item: 2, What: "feed Accept", Observed: "text/event-stream " + code.String()[:3] + ", application/event-stream " + docs.String()[:3],
				Code: code.Status == 200, Docs: docs.Status == 200}
		}),
		Entry("3: event ids and the org job_complete status", L("sse"), func() framework.Reading {
			id, org, _ := completedJob()
			evs := s().JobFeed(id, "").Drain()
			complete := orgEventsOf(org, id, 2)[1]
			status, _ := framework.EventData(complete)["status"].(string)
			jobIDs := regexp.MustCompile(`^job-\d+$`).MatchString(evs[0].ID)
			return framework.Reading{Item: 3, What: "event ids, org job_complete status", Observed: "id " + evs[0].ID + ", org status " + status,
				Code: jobIDs && status == "complete", Docs: uuidPattern.MatchString(evs[0].ID) && status == "success"}
		}),
		Entry("4: the answer to POST /jobs", L("api"), func() framework.Reading {
			r := s().Do(s().Who(framework.Admin), "POST", s().Pushy("jobs"), mustJSON(job("sleep 1", []string{s().Name("DONKEY")})))
			var out map[string]any
			framework.DecodeJSON(r, &out)
			uri, _ := out["uri"].(string)
			_, hasID := out["id"].(string)
			return framework.Reading{Item: 4, What: "POST /jobs reply", Observed: string(r.Body),
				Code: r.Status == 201 && framework.JobURIPattern.MatchString(uri) && r.Header.Get("Location") == uri, Docs: r.Status == 201 && hasID}
		}),
		Entry("5: the job list", L("api"), func() framework.Reading {
			s().OfflineJob()
			r := s().Do(s().Who(framework.Admin), "GET", s().Pushy("jobs"), "")
			var list []json.RawMessage
			framework.DecodeJSON(r, &list)
			objects, ids := len(list) > 0, len(list) > 0
			for _, e := range list {
				var o map[string]any
				var id string
				objects = objects && json.Unmarshal(e, &o) == nil && o["id"] != nil
				ids = ids && json.Unmarshal(e, &id) == nil
			}
			return framework.Reading{Item: 5, What: "GET /jobs", Observed: firstBytes(r.Body, 120), Code: objects, Docs: ids}
		}),
		Entry("6: node state fields", L("api"), func() framework.Reading {
			node := s().Name("some_node")
			r := s().Do(s().Who(framework.Admin), "GET", s().Pushy("node_states/"+node), "")
			var st map[string]any
			framework.DecodeJSON(r, &st)
			code := st["node_name"] == node && (st["status"] == "online" || st["status"] == "offline") && st["availability"] != nil
			docs := (st["status"] == "up" || st["status"] == "down") && st["updated_at"] != nil
			return framework.Reading{Item: 6, What: "node state fields", Observed: string(r.Body), Code: code, Docs: docs}
		}),
		Entry("7: the node bootstrap path", L("api"), func() framework.Reading {
			node := s().Name("DONKEY")
			code := s().Do(s().Who(framework.Admin), "GET", s().Pushy("config/"+node)+"?ccpk="+ccpk, "")
			docs := s().Do(s().Who(framework.Admin), "GET", s().Pushy("connect/"+node)+"?ccpk="+ccpk, "")
			return framework.Reading{Item: 7, What: "config/NODE vs connect/NODE", Observed: "config " + code.String()[:3] + ", connect " + docs.String()[:3],
				Code: code.Status == 200, Docs: docs.Status == 200}
		}),
		Entry("8: per-node status keys", L("api"), func() framework.Reading {
			id, _, p := completedJob()
			j := s().Job(id)
			return framework.Reading{Item: 8, What: "per-node status keys", Observed: mustJSON(j.Nodes),
				Code: len(j.Nodes["succeeded"]) == 1 && j.Nodes["succeeded"][0] == p.Node, Docs: len(j.Nodes["complete"]) == 1}
		}),
		Entry("14: quorum in the start event, not in the job", L("sse"), func() framework.Reading {
			id := s().StartJob(job("sleep 1", []string{s().Name("DONKEY")}, "quorum", 1))
			evs := s().JobFeed(id, "").Drain()
			_, inStart := framework.EventData(evs[0])["quorum"]
			var raw map[string]any
			Expect(jsonUnmarshal(s().Job(id).Raw, &raw)).To(Succeed())
			_, inJob := raw["quorum"]
			return framework.Reading{Item: 14, What: "quorum", Observed: "start " + boolWord(inStart) + ", job " + boolWord(inJob),
				Code: inStart && !inJob, Docs: inJob}
		}),
	)
})

func firstBytes(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

func boolWord(b bool) string {
	if b {
		return "has it"
	}
	return "has not"
}
