package fakenodes

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pushlab/pushlab/fakenodes/behaviour"
)

func TestAppendStringLikeRubyJSON(t *testing.T) {
	cases := map[string]string{
		"plain":                 `"plain"`,
		`quote " backslash \`:   `"quote \" backslash \\"`,
		"tab\tnl\ncr\rbs\bff\f": `"tab\tnl\ncr\rbs\bff\f"`,
		"\x01\x1f":              `"\u0001\u001f"`,
		"</script> & é ✓ Đ":     `"</script> & é ✓ Đ"`, // no HTML escaping, UTF-8 as is
		"bad \xff byte":         "\"bad \ufffd byte\"",
		"":                      `""`,
	}
	for in, want := range cases {
		got := string(appendString(nil, in))
		if got != want {
			t.Errorf("%q: got %s, want %s", in, got, want)
		}
		var back string
		if err := json.Unmarshal([]byte(got), &back); err != nil {
			t.Errorf("%q: not JSON: %v", in, err)
		}
	}
}

func TestEncodeBodySizeRules(t *testing.T) {
	id := &identity{node: "n", client: "n", org: "o", incarnation: "i"}
	out := func(s string) *string { return &s }
	msg := func(stdout, stderr string) *behaviour.Message {
		return &behaviour.Message{Type: "succeeded", JobID: "J", Stdout: out(stdout), Stderr: out(stderr)}
	}
	const max = 1000
	// fits: output kept, in the client's key order
	body, dropped, ok := encodeBody(nil, id, msg("out", "err"), 3, "T", max)
	if !ok || dropped || string(body) != `{"node":"n","client":"n","protocol_version":"2.0","org":"o","type":"succeeded","sequence":3,"timestamp":"T","incarnation_id":"i","job_id":"J","stdout":"out","stderr":"err"}` {
		t.Fatalf("%s %v %v", body, dropped, ok)
	}
	// over max in raw bytes: dropped before encoding
	body, dropped, ok = encodeBody(nil, id, msg(strings.Repeat("a", 600), strings.Repeat("b", 401)), 1, "T", max)
	if !ok || !dropped || strings.Contains(string(body), "stdout") {
		t.Fatalf("%s", body)
	}
	// under max raw, over once escaped: dropped after encoding
	body, dropped, ok = encodeBody(nil, id, msg(strings.Repeat("\n", 600), ""), 1, "T", max)
	if !ok || !dropped || strings.Contains(string(body), "stdout") {
		t.Fatalf("%s", body)
	}
	// too large even without output: not sent
	big := &behaviour.Message{Type: "failed", JobID: strings.Repeat("j", 2000)}
	if _, _, ok := encodeBody(nil, id, big, 1, "T", max); ok {
		t.Fatal("oversize message accepted")
	}
	// heartbeats carry job_state before job_id, and null for no job
	body, _, _ = encodeBody(nil, id, &behaviour.Message{Type: "heartbeat", JobState: behaviour.Idle}, 1, "T", max)
	if !strings.HasSuffix(string(body), `"incarnation_id":"i","job_state":"idle","job_id":null}`) {
		t.Fatalf("%s", body)
	}
}
