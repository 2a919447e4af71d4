package pushyclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/pushlab/pushlab/internal/sse"
)

// Feed is an open SSE feed (protocol.md §6). Close it when done.
type Feed struct {
	Header http.Header // response headers
	body   io.ReadCloser
	r      *sse.Reader
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	read   atomic.Int64 // events Events has taken off the connection
}

// JobFeed opens GET /pushy/job_status_feed/ID. lastEventID ("" for none) is sent as
// Last-Event-ID. A status outside 2xx is an *Error.
func (c *Client) JobFeed(ctx context.Context, id, lastEventID string) (*Feed, error) {
	return c.openFeed(ctx, c.pushy("job_status_feed", id), lastEventID)
}

// OrgFeed opens the organization feed GET /pushy/job_status_feed, which never ends.
func (c *Client) OrgFeed(ctx context.Context, lastEventID string) (*Feed, error) {
	return c.openFeed(ctx, c.pushy("job_status_feed"), lastEventID)
}

func (c *Client) openFeed(ctx context.Context, path, lastEventID string) (*Feed, error) {
	ctx, cancel := context.WithCancel(ctx)
	var h http.Header
	if lastEventID != "" {
		h = http.Header{"Last-Event-Id": {lastEventID}}
	}
	resp, err := c.Do(ctx, http.MethodGet, path, nil, h)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		cancel()
		return nil, &Error{Method: http.MethodGet, Path: path, StatusCode: resp.StatusCode, Status: resp.Status, Body: b}
	}
	return &Feed{Header: resp.Header, body: resp.Body, r: sse.NewReader(resp.Body), cancel: cancel, done: make(chan struct{})}, nil
}

// Next returns the next event, skipping comments (":keepalive"); io.EOF when the server has
// closed the feed.
func (f *Feed) Next() (sse.Event, error) {
	for {
		ev, err := f.r.Next()
		if err != nil {
			return ev, err
		}
		if !ev.IsComment() {
			return ev, nil
		}
	}
}

// Events reads the feed on a goroutine and delivers its events (comments dropped) on the
// returned channel, which is closed when the feed ends or is closed. The reading never waits for
// the caller: events queue without bound between the two, so a caller busy with a burst does not
// hold back the stream, and each event's Received is when it came off the connection.
func (f *Feed) Events() <-chan sse.Event {
	ch := make(chan sse.Event, 64)
	var (
		mu     sync.Mutex
		queue  []sse.Event
		ended  bool
		signal = make(chan struct{}, 1)
	)
	wake := func() {
		select {
		case signal <- struct{}{}:
		default:
		}
	}
	go func() { // reader
		defer func() {
			mu.Lock()
			ended = true
			mu.Unlock()
			wake()
		}()
		for {
			ev, err := f.Next()
			if err != nil {
				return
			}
			mu.Lock()
			queue = append(queue, ev)
			mu.Unlock()
			f.read.Add(1)
			wake()
		}
	}()
	go func() { // deliverer
		defer close(ch)
		for {
			mu.Lock()
			batch, done := queue, ended
			queue = nil
			mu.Unlock()
			for _, ev := range batch {
				select {
				case ch <- ev:
				case <-f.done:
					return
				}
			}
			if len(batch) > 0 {
				continue
			}
			if done {
				return
			}
			select {
			case <-signal:
			case <-f.done:
				return
			}
		}
	}()
	return ch
}

// Close ends the feed.
func (f *Feed) Close() error {
	var err error
	f.once.Do(func() {
		close(f.done)
		f.cancel()
		err = f.body.Close()
	})
	return err
}

// EventData holds the fields of a feed event's data (protocol.md §6); fields an event does not
// carry stay zero.
type EventData struct {
	Timestamp  string      `json:"timestamp"`
	Job        string      `json:"job"`    // org feed start and job_complete
	Node       string      `json:"node"`   // quorum_vote, run_start, run_complete, rehab
	Status     string      `json:"status"` // quorum_vote, run_complete, job_complete; job status in summary
	Command    string      `json:"command"`
	RunTimeout json.Number `json:"run_timeout"`
	Quorum     json.Number `json:"quorum"`
	NodeCount  json.Number `json:"node_count"`
	User       string      `json:"user"`
	JobUser    string      `json:"job_user"`
}

// DecodeEvent decodes an event's data.
func DecodeEvent(ev sse.Event) (EventData, error) {
	var d EventData
	dec := json.NewDecoder(bytes.NewReader(ev.Data))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		return d, fmt.Errorf("event %s %s: %w", ev.Name, ev.ID, err)
	}
	return d, nil
}
