package wire

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// slowNode is DecodeNode's reference: encoding/json.
func slowNode(b []byte) (NodeMessage, []byte, error) {
	type plain NodeMessage
	var aux struct {
		plain
		JobID json.RawMessage `json:"job_id"`
	}
	err := json.Unmarshal(b, &aux)
	return NodeMessage(aux.plain), aux.JobID, err
}

var fastNodeCases = []string{
	`{"node":"n1","client":"n1","protocol_version":"2.0","org":"o","type":"heartbeat","sequence":7,"timestamp":"Mon, 23 Nov 2026 12:00:00 GMT","incarnation_id":"i","job_state":"idle","job_id":null}`,
	`{"type":"succeeded","job_id":"abc","stdout":"x","stderr":null}`,
	`{"type":"succeeded","job_id":"abc","stdout":"x","stdout":null}`,
	`{"type":"a","node":"x","node":null}`,
	`{"type":"a","sequence":-0}`,
	`{"type":"a","sequence":123456789012345678}`,
	`{"type":"a","sequence":null}`,
	` { "type" : "a" , "job_id" : "null" } `,
	`{}`,
	// where the fast path must give up
	`{"Node":"x","type":"a"}`,
	`{"type":"a","extra":1}`,
	`{"type":"a\u0062"}`,
	`{"type":"é"}`,
	`{"type":"a","sequence":1.5}`,
	`{"type":"a","sequence":1e3}`,
	`{"type":"a","sequence":01}`,
	`{"type":"a","sequence":12345678901234567890}`,
	`{"type":"a","job_id":5}`,
	`{"type":true}`,
	`{"type":"a"} x`,
	`{"type":"a",}`,
	`[]`,
	``,
}

func TestDecodeNodeFastAgreesWithEncodingJSON(t *testing.T) {
	for _, c := range fastNodeCases {
		checkFastNode(t, []byte(c))
	}
	if _, _, ok := decodeNodeFast(readFixture(t, "node_heartbeat.body")); !ok {
		t.Error("the fast path refused the Ruby client's heartbeat")
	}
}

func checkFastNode(t *testing.T, b []byte) {
	t.Helper()
	m, raw, ok := decodeNodeFast(b)
	if !ok {
		return
	}
	want, wantRaw, err := slowNode(b)
	if err != nil {
		t.Fatalf("%q: fast path accepted what encoding/json refuses: %v", b, err)
	}
	if !reflect.DeepEqual(m, want) || !bytes.Equal(raw, wantRaw) {
		t.Fatalf("%q: fast %+v %s, encoding/json %+v %s", b, m, raw, want, wantRaw)
	}
}

func FuzzDecodeNodeFast(f *testing.F) {
	for _, c := range fastNodeCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkFastNode(t, b) })
}
