package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pushlab/pushlab/simulator/checks"
)

// newTransport is the HTTP transport of the run: many connections to one host (polls and
// feeds of many jobs at once).
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}
}

// expectStatusKey marks a request whose 4xx answer is expected (an output that must be absent).
type expectStatusKey struct{}

func expectingStatus(ctx context.Context, status int) context.Context {
	return context.WithValue(ctx, expectStatusKey{}, status)
}

// recorder is the run's REST client transport: every request and answer goes into the history
// and the http_* metrics.
type recorder struct {
	r    *run
	base http.RoundTripper
}

// maxRecordedBody bounds the part of a request or answer body the history keeps.
const maxRecordedBody = 4096

func (rec *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r := rec.r
	var reqBody string
	if req.Body != nil && req.GetBody != nil {
		if rc, err := req.GetBody(); err == nil {
			b, _ := io.ReadAll(io.LimitReader(rc, maxRecordedBody+1))
			rc.Close()
			reqBody = string(b)
		}
	}
	start := time.Now()
	resp, err := rec.base.RoundTrip(req)
	elapsed := time.Since(start)
	e := Entry{T: r.hist.At(start).Seconds(), Kind: KindHTTP, Method: req.Method, Path: req.URL.RequestURI(), Millis: float64(elapsed.Microseconds()) / 1000}
	tags := Tags{Method: req.Method}
	failed := false
	if err != nil {
		e.Detail = err.Error()
		failed = req.Context().Err() == nil
		tags.Status = "error"
	} else {
		e.Status = resp.StatusCode
		tags.Status = strconv.Itoa(resp.StatusCode)
		want, _ := req.Context().Value(expectStatusKey{}).(int)
		failed = resp.StatusCode >= 400 && resp.StatusCode != want
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			resp.Body = io.NopCloser(bytes.NewReader(body))
			if rerr != nil {
				e.Detail = rerr.Error()
			}
			e.Body = excerpt(string(body), maxRecordedBody)
		}
	}
	if reqBody != "" {
		e.Detail = strings.TrimSpace(e.Detail + " request: " + excerpt(reqBody, maxRecordedBody))
	}
	r.hist.Add(e)
	r.metrics.Duration("http_req_duration", elapsed, tags)
	r.metrics.Add("http_reqs", 1, tags)
	f := 0.0
	if failed && start.UnixNano() >= r.serverBusyUntil.Load() {
		f = 1 // failures while pushlab restarts or pauses the server are the fault's, not the server's
	}
	r.metrics.Add("http_req_failed", f, tags)
	return resp, err
}

func checksEvent(name, id string, data []byte) checks.Event {
	return checks.Event{Name: name, ID: id, Data: json.RawMessage(data)}
}
