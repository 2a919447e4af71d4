package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDecodeNodeFixture(t *testing.T) {
	m, err := DecodeNode(readFixture(t, "node_heartbeat.body"), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := NodeMessage{Node: "node-001", Client: "node-001.example.com", ProtocolVersion: "2.0", Org: "pushlab",
		Type: TypeHeartbeat, Sequence: 7, Timestamp: "Mon, 23 Nov 2026 08:00:00 GMT",
		IncarnationID: "5f2b6c1e-8d3a-4b7e-9c11-2a6f0e4d9b33", JobState: "idle"}
	if *m != want {
		t.Fatalf("got %+v\nwant %+v", *m, want)
	}
}

func TestDecodeNodeRules(t *testing.T) {
	base := func(extra string) string {
		return `{"node":"n","client":"c","protocol_version":"2.0","org":"o","sequence":1,` +
			`"timestamp":"Mon, 23 Nov 2026 08:00:00 GMT","incarnation_id":"i"` + extra + `}`
	}
	long := strings.Repeat("j", MaxJobIDSize)
	tests := []struct {
		name   string
		body   string
		max    int
		err    error
		typ    string
		jobID  string
		stdout string
		hasMsg bool // message returned alongside the error
	}{
		{"ack_commit with job", base(`,"type":"ack_commit","job_id":"J1"`), 0, nil, "ack_commit", "J1", "", true},
		{"null job", base(`,"type":"aborted","job_id":null`), 0, nil, "aborted", "", "", true},
		{"string null job", base(`,"type":"aborted","job_id":"null"`), 0, nil, "aborted", "", "", true},
		{"missing job", base(`,"type":"nack_run"`), 0, nil, "nack_run", "", "", true},
		{"64-byte job", base(`,"type":"ack_run","job_id":"` + long + `"`), 0, nil, "ack_run", long, "", true},
		{"output", base(`,"type":"succeeded","job_id":"J","stdout":"out","stderr":""`), 0, nil, "succeeded", "J", "out", true},
		{"65-byte job", base(`,"type":"ack_run","job_id":"` + long + `x"`), 0, ErrInvalidJobID, "", "", "", false},
		{"numeric job", base(`,"type":"ack_run","job_id":12`), 0, ErrInvalidJobID, "", "", "", false},
		{"unknown type", base(`,"type":"hello","job_id":"J"`), 0, ErrUnknownType, "hello", "J", "", true},
		{"server type from node", base(`,"type":"commit"`), 0, ErrUnknownType, "commit", "", "", true},
		{"no type", base(``), 0, ErrNoType, "", "", "", false},
		{"non-string type", base(`,"type":5`), 0, ErrBadJSON, "", "", "", false},
		{"not JSON", `heartbeat`, 0, ErrBadJSON, "", "", "", false},
		{"JSON array", `[1,2]`, 0, ErrBadJSON, "", "", "", false},
		{"trailing garbage", base(`,"type":"failed"`) + "x", 0, ErrBadJSON, "", "", "", false},
		{"over the cap", base(`,"type":"failed"`), 50, ErrBodyTooLarge, "", "", "", false},
		{"over the default cap", `{"type":"failed","stdout":"` + strings.Repeat("a", DefaultMaxBodySize) + `"}`, 0, ErrBodyTooLarge, "", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := DecodeNode([]byte(tc.body), tc.max)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if (m != nil) != tc.hasMsg {
				t.Fatalf("message returned = %v, want %v", m != nil, tc.hasMsg)
			}
			if m == nil {
				return
			}
			if m.Type != tc.typ || m.JobID != tc.jobID {
				t.Fatalf("type %q job %q, want %q %q", m.Type, m.JobID, tc.typ, tc.jobID)
			}
			if tc.stdout != "" && (m.Stdout == nil || *m.Stdout != tc.stdout || m.Stderr == nil) {
				t.Fatalf("stdout/stderr not decoded: %+v", m)
			}
		})
	}
}

func TestNodeMessageEncoding(t *testing.T) {
	out := "hello"
	m := NodeMessage{Node: "n", Client: "c", ProtocolVersion: ProtocolVersion, Org: "o", Type: TypeHeartbeat,
		Sequence: 1, Timestamp: "t", IncarnationID: "i", JobState: "idle"}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"job_id":null`, `"job_state":"idle"`, `"protocol_version":"2.0"`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
	if bytes.Contains(b, []byte("stdout")) {
		t.Errorf("%s has stdout", b)
	}
	m.Type, m.JobState, m.JobID, m.Stdout = TypeSucceeded, "", "J", &out
	b, _ = json.Marshal(m)
	if !bytes.Contains(b, []byte(`"job_id":"J"`)) || !bytes.Contains(b, []byte(`"stdout":"hello"`)) || bytes.Contains(b, []byte("job_state")) {
		t.Fatalf("bad encoding %s", b)
	}
	back, err := DecodeNode(b, 0)
	if err != nil || back.JobID != "J" || *back.Stdout != "hello" || back.Type != TypeSucceeded {
		t.Fatalf("round trip: %+v %v", back, err)
	}
}

func TestServerMessages(t *testing.T) {
	ts := "Mon, 23 Nov 2026 08:00:00 GMT"
	c := NewCommit("J", "srv", "chef-client")
	c.User, c.Env = "root", map[string]string{"A": "1"}
	cases := []struct {
		msg  ServerMessage
		want string
	}{
		{NewServerHeartbeat("srv", "inc").WithStamp(0, ts),
			`{"server":"srv","type":"heartbeat","incarnation_id":"inc","sequence":0,"timestamp":"` + ts + `"}`},
		{NewAbort().WithStamp(1, ts), `{"type":"abort","sequence":1,"timestamp":"` + ts + `"}`},
		{Ack{}.WithStamp(2, ts), `{"type":"ack","sequence":2,"timestamp":"` + ts + `"}`},
		{NewRun("J").WithStamp(3, ts), `{"type":"run","job_id":"J","sequence":3,"timestamp":"` + ts + `"}`},
		{NewCommit("J", "srv", "x").WithStamp(4, ts),
			`{"type":"commit","job_id":"J","server":"srv","command":"x","capture":false,"sequence":4,"timestamp":"` + ts + `"}`},
		{c.WithStamp(5, ts),
			`{"type":"commit","job_id":"J","server":"srv","command":"chef-client","user":"root","env":{"A":"1"},"capture":false,"sequence":5,"timestamp":"` + ts + `"}`},
	}
	for _, tc := range cases {
		b, err := json.Marshal(tc.msg)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.msg.MessageType(), b, tc.want)
		}
		back, err := DecodeServer(b, 0)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if back.MessageType() != tc.msg.MessageType() {
			t.Errorf("decoded %s as %s", tc.msg.MessageType(), back.MessageType())
		}
		rb, _ := json.Marshal(back)
		if string(rb) != tc.want {
			t.Errorf("re-encoded %s", rb)
		}
	}
	if _, err := DecodeServer([]byte(`{"type":"ack_run"}`), 0); !errors.Is(err, ErrUnknownType) {
		t.Errorf("node type from server: %v", err)
	}
	if _, err := DecodeServer([]byte(`{"type":"run","job_id":5}`), 0); !errors.Is(err, ErrBadJSON) {
		t.Errorf("numeric job id: %v", err)
	}
	if _, err := DecodeServer([]byte(`{}`), 0); !errors.Is(err, ErrNoType) {
		t.Errorf("no type: %v", err)
	}
	if _, err := DecodeServer(bytes.Repeat([]byte(" "), 11), 10); !errors.Is(err, ErrBodyTooLarge) {
		t.Errorf("cap: %v", err)
	}
}

func TestTimestamps(t *testing.T) {
	at := time.Date(2026, 11, 23, 8, 0, 0, 0, time.FixedZone("CET", 3600))
	s := FormatTime(at)
	if s != "Mon, 23 Nov 2026 07:00:00 GMT" {
		t.Fatalf("FormatTime = %q", s)
	}
	back, err := ParseTime(s)
	if err != nil || !back.Equal(at) {
		t.Fatalf("ParseTime = %v %v", back, err)
	}
	if _, err := ParseTime("2026-11-23T07:00:00Z"); err == nil {
		t.Fatal("RFC 3339 accepted")
	}
	max := 300 * time.Second
	for _, tc := range []struct {
		offset time.Duration
		ok     bool
	}{{0, true}, {299 * time.Second, true}, {-299 * time.Second, true}, {300 * time.Second, false}, {-300 * time.Second, false}, {time.Hour, false}} {
		err := CheckSkew(FormatTime(at.Add(tc.offset)), at, max)
		if (err == nil) != tc.ok {
			t.Errorf("offset %s: err = %v", tc.offset, err)
		}
		if err != nil && !errors.Is(err, ErrSkew) {
			t.Errorf("offset %s: %v does not wrap ErrSkew", tc.offset, err)
		}
	}
	if err := CheckSkew("yesterday", at, max); err == nil || errors.Is(err, ErrSkew) {
		t.Errorf("unparsable: %v", err)
	}
}

func FuzzDecodeNode(f *testing.F) {
	f.Add(readFixture(f, "node_heartbeat.body"))
	f.Add([]byte(`{"type":"succeeded","job_id":"null","stdout":"x"}`))
	f.Add([]byte(`{"type":"ack_run","job_id":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := DecodeNode(body, 4096)
		if len(body) > 4096 && !errors.Is(err, ErrBodyTooLarge) {
			t.Fatalf("%d-byte body not refused: %v", len(body), err)
		}
		if err == nil {
			if !IsNodeType(m.Type) || len(m.JobID) > MaxJobIDSize || m.JobID == "null" {
				t.Fatalf("accepted %+v", m)
			}
			// What we accept we can re-encode, and it decodes to the same thing.
			b, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			m2, err := DecodeNode(b, 1<<20)
			if err != nil || m2.Type != m.Type || m2.JobID != m.JobID || m2.Node != m.Node {
				t.Fatalf("re-decode %s: %+v %v", b, m2, err)
			}
		}
		s, err := DecodeServer(body, 4096)
		if err == nil && s == nil {
			t.Fatal("nil message without error")
		}
	})
}

func BenchmarkDecodeNodeHeartbeat(b *testing.B) {
	body := readFixture(b, "node_heartbeat.body")
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := DecodeNode(body, 0); err != nil {
			b.Fatal(err)
		}
	}
}
