package framework

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"github.com/pushlab/pushlab/internal/pushyclient"
)

// JobURIPattern is what POST /jobs must answer in "uri" (protocol.md §2.5; pedant's regex).
var JobURIPattern = regexp.MustCompile(`^https?://.*/jobs/[0-9a-f]{32}$`)

// StartJob posts a job body (any JSON value, or a pushyclient.JobRequest) as the target's
// user, checks the 201 answer and returns the job id.
func (s *Suite) StartJob(body any) string {
	ginkgo.GinkgoHelper()
	return s.StartJobAs(s.Target.User(), body)
}

// StartJobAs posts a job as who.
func (s *Suite) StartJobAs(who Requestor, body any) string {
	ginkgo.GinkgoHelper()
	b, ok := body.(string)
	if !ok {
		raw, err := json.Marshal(body)
		gomega.Expect(err).NotTo(gomega.HaveOccurred())
		b = string(raw)
	}
	r := s.Do(who, "POST", s.Pushy("jobs"), b)
	gomega.Expect(r.Status).To(gomega.Equal(http.StatusCreated), "POST /jobs %s: %s", b, r)
	var out struct {
		URI string `json:"uri"`
	}
	DecodeJSON(r, &out)
	gomega.Expect(out.URI).To(gomega.MatchRegexp(JobURIPattern.String()), "uri of the created job")
	return out.URI[len(out.URI)-32:]
}

// Job reads GET /jobs/ID.
func (s *Suite) Job(id string) *pushyclient.Job {
	ginkgo.GinkgoHelper()
	j, err := s.API.Job(context.Background(), id)
	gomega.Expect(err).NotTo(gomega.HaveOccurred(), "GET job %s", id)
	return j
}

// WaitJob polls the job until its status is want, within the Job timing plus extra.
func (s *Suite) WaitJob(id, want string, extra ...time.Duration) *pushyclient.Job {
	ginkgo.GinkgoHelper()
	timeout := s.Timings.Job
	for _, e := range extra {
		timeout += e
	}
	var job *pushyclient.Job
	gomega.Eventually(func(g gomega.Gomega) {
		j, err := s.API.Job(context.Background(), id)
		g.Expect(err).NotTo(gomega.HaveOccurred())
		job = j
		g.Expect(j.Status).To(gomega.Equal(want), "status of job %s (nodes %v)", id, j.Nodes)
	}).WithTimeout(timeout).Should(gomega.Succeed())
	return job
}

// WaitFinished polls the job until it has left new, voting and running.
func (s *Suite) WaitFinished(id string, extra ...time.Duration) *pushyclient.Job {
	ginkgo.GinkgoHelper()
	timeout := s.Timings.Job
	for _, e := range extra {
		timeout += e
	}
	var job *pushyclient.Job
	gomega.Eventually(func(g gomega.Gomega) {
		j, err := s.API.Job(context.Background(), id)
		g.Expect(err).NotTo(gomega.HaveOccurred())
		job = j
		g.Expect(j.Finished()).To(gomega.BeTrue(), "job %s is %s (nodes %v)", id, j.Status, j.Nodes)
	}).WithTimeout(timeout).Should(gomega.Succeed())
	return job
}

// WaitNode polls the job until node has per-node status want.
func (s *Suite) WaitNode(id, node, want string) {
	ginkgo.GinkgoHelper()
	gomega.Eventually(func(g gomega.Gomega) {
		j, err := s.API.Job(context.Background(), id)
		g.Expect(err).NotTo(gomega.HaveOccurred())
		g.Expect(j.NodeStatus()[node]).To(gomega.Equal(want), "status of %s in job %s (%v)", node, id, j.Nodes)
	}).Should(gomega.Succeed())
}

// OfflineJob is a job on a node that never connected, finished quorum_failed: a fixture the
// read-only specs share. It is created on first use; when that fails, every spec that needs it
// fails at once with the same reason.
func (s *Suite) OfflineJob() string {
	ginkgo.GinkgoHelper()
	s.fixtureMu.Lock()
	defer s.fixtureMu.Unlock()
	if s.offlineErr != "" {
		ginkgo.Fail("the shared offline-job fixture could not be made: " + s.offlineErr)
	}
	if s.offlineJob == "" {
		id, err := s.makeOfflineJob()
		if err != nil {
			s.offlineErr = err.Error()
			ginkgo.Fail("the shared offline-job fixture could not be made: " + s.offlineErr)
		}
		s.offlineJob = id
	}
	return s.offlineJob
}

// makeOfflineJob posts a job on a node that never connected and waits until it is
// quorum_failed (protocol.md §5.6).
func (s *Suite) makeOfflineJob() (string, error) {
	body, _ := json.Marshal(map[string]any{"command": "sleep 1", "nodes": []string{s.Name("DONKEY")}})
	ctx := context.Background()
	started, err := s.API.StartJobRaw(ctx, body)
	if err != nil {
		return "", fmt.Errorf("POST jobs: %w", err)
	}
	deadline := time.Now().Add(s.Timings.Job)
	for {
		j, err := s.API.Job(ctx, started.ID)
		if err != nil {
			return "", fmt.Errorf("GET job %s: %w", started.ID, err)
		}
		if j.Status == "quorum_failed" {
			return started.ID, nil
		}
		if j.Finished() || time.Now().After(deadline) {
			return "", fmt.Errorf("job %s on a node that never connected is %s (nodes %v), want quorum_failed", started.ID, j.Status, j.Nodes)
		}
		time.Sleep(s.Timings.Poll) // polling interval of a deadline loop
	}
}

// NodeMap builds the "nodes" object of a job: status → names.
func NodeMap(pairs ...string) map[string][]string {
	out := map[string][]string{}
	for i := 0; i+1 < len(pairs); i += 2 {
		out[pairs[i]] = append(out[pairs[i]], pairs[i+1])
	}
	return out
}

// HaveNodes matches a job's nodes map with names in any order.
func HaveNodes(want map[string][]string) gomega.OmegaMatcher {
	matchers := []gomega.OmegaMatcher{gomega.HaveLen(len(want))}
	for st, names := range want {
		matchers = append(matchers, gomega.HaveKeyWithValue(st, gomega.ConsistOf(names)))
	}
	return gomega.SatisfyAll(matchers...)
}
