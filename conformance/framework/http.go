package framework

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"github.com/pushlab/pushlab/internal/chefauth"
)

// acceptFor is the media type the resource at path provides (protocol.md §2.2 step 6).
func acceptFor(path string) string {
	switch {
	case strings.Contains(path, "status_feed"):
		return "text/event-stream"
	case strings.Contains(path, "/output/"):
		return "application/octet-stream"
	}
	return "application/json"
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

// Do sends a request signed by who (a zero Requestor: unsigned), with optional header changes
// after signing; a transport error fails the spec.
func (s *Suite) Do(who Requestor, method, path, body string, mutate ...func(http.Header)) Response {
	ginkgo.GinkgoHelper()
	var m func(http.Header)
	if len(mutate) > 0 {
		m = func(h http.Header) {
			for _, f := range mutate {
				f(h)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.Timings.Job)
	defer cancel()
	r, err := s.do(ctx, who, method, path, body, m)
	gomega.Expect(err).NotTo(gomega.HaveOccurred(), "%s %s", method, path)
	return r
}

// DoRequest sends a request built by the caller (signing included) and reads the answer.
func (s *Suite) DoRequest(req *http.Request) Response {
	ginkgo.GinkgoHelper()
	r, err := s.send(req)
	gomega.Expect(err).NotTo(gomega.HaveOccurred(), "%s %s", req.Method, req.URL.Path)
	return r
}

// ErrorArray is the body of an authentication or authorization error: {"error":[msg]}.
func ErrorArray(msg string) string {
	b, _ := json.Marshal(map[string][]string{"error": {msg}})
	return string(b)
}

// ErrorString is the body of a job validation error: {"error":msg}.
func ErrorString(msg string) string {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return string(b)
}

// ExpectStatus checks a response's status and, when body is not empty, that its body is that
// JSON document (compared as JSON, so key order and spacing do not matter).
func ExpectStatus(r Response, status int, body string) {
	ginkgo.GinkgoHelper()
	gomega.Expect(r.Status).To(gomega.Equal(status), "status of the reply %s", r)
	if body != "" {
		gomega.Expect(string(r.Body)).To(gomega.MatchJSON(body), "body of the %d reply", r.Status)
	}
}

// DecodeJSON decodes a response body into v, failing the spec when it is not JSON.
func DecodeJSON(r Response, v any) {
	ginkgo.GinkgoHelper()
	gomega.Expect(json.Unmarshal(r.Body, v)).To(gomega.Succeed(), "JSON body %s", r.Body)
}

// DoSigned sends a request signed by signer as given (protocol version, clock).
func (s *Suite) DoSigned(signer *chefauth.Signer, method, path, body string) Response {
	ginkgo.GinkgoHelper()
	req, err := http.NewRequest(method, s.Target.URL()+path, strings.NewReader(body))
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	req.Header.Set("Accept", acceptFor(path))
	req.Header.Set("Content-Type", "application/json")
	gomega.Expect(signer.Sign(req, []byte(body))).To(gomega.Succeed())
	return s.DoRequest(req)
}
