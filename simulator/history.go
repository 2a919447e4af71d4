package simulator

import (
	"bufio"
	"encoding/json"
	"io"
	"sync"
	"time"
	"unicode/utf8"
)

// History kinds.
const (
	KindHTTP  = "http"  // a REST call and its answer
	KindSSE   = "sse"   // an SSE event as received (Type is the event name)
	KindNode  = "node"  // a node-side event from the fleet (Type is sent, received, state, ...)
	KindStep  = "step"  // a timeline step began or ended
	KindFault = "fault" // a fault was injected or lifted
	KindJob   = "job"   // a job's status as a poll saw it change
	KindCheck = "check" // a check's verdict
	KindNote  = "note"  // anything else worth keeping
)

// Entry is one line of the history. T is seconds since the start of the run on the monotonic
// clock, so entries order correctly whatever the wall clock does.
type Entry struct {
	T      float64         `json:"t"`
	Kind   string          `json:"kind"`
	Job    string          `json:"job,omitempty"`
	JobID  string          `json:"job_id,omitempty"`
	Node   string          `json:"node,omitempty"`
	Type   string          `json:"type,omitempty"`
	Method string          `json:"method,omitempty"`
	Path   string          `json:"path,omitempty"`
	Status int             `json:"status,omitempty"`
	Millis float64         `json:"ms,omitempty"`
	ID     string          `json:"id,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
	Detail string          `json:"detail,omitempty"`
	Body   string          `json:"body,omitempty"`
}

// History records every entry of a run as ndjson.
type History struct {
	start time.Time
	mu    sync.Mutex
	w     *bufio.Writer
	enc   *json.Encoder
	n     int
	err   error
}

// NewHistory starts a history whose clock starts now; w receives one JSON object per line.
func NewHistory(w io.Writer) *History {
	bw := bufio.NewWriterSize(w, 256<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &History{start: time.Now(), w: bw, enc: enc}
}

// Since is the run's monotonic time.
func (h *History) Since() time.Duration { return time.Since(h.start) }

// At converts a wall-clock instant taken with time.Now into the run's time.
func (h *History) At(t time.Time) time.Duration { return t.Sub(h.start) }

// Add records an entry; a zero T is filled with the current time.
func (h *History) Add(e Entry) {
	if e.T == 0 {
		e.T = h.Since().Seconds()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil {
		return
	}
	h.n++
	h.err = h.enc.Encode(e)
}

// Len is how many entries were recorded.
func (h *History) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// Flush writes buffered entries out and returns the first write error.
func (h *History) Flush() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil {
		return h.err
	}
	return h.w.Flush()
}

// excerpt shortens s to at most n bytes (on a rune boundary), marking the cut.
func excerpt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…(" + itoa(len(s)) + " bytes)"
}

func seconds(d time.Duration) float64 { return float64(d) / float64(time.Second) }
