package api

import (
	"encoding/base64"
	"strings"
	"testing"
)

// TestParseJobSpec covers every validation row of protocol.md §2.5 and the pedant POST cases,
// each with the exact message.
func TestParseJobSpec(t *testing.T) {
	ok := ""
	bigRaw := "raw:" + strings.Repeat("x", MaxFileSize)
	tooBigRaw := "raw:" + strings.Repeat("x", MaxFileSize+1)
	bigB64 := "base64:" + base64.StdEncoding.EncodeToString(make([]byte, MaxFileSize))
	tooBigB64 := "base64:" + base64.StdEncoding.EncodeToString(make([]byte, MaxFileSize+1))
	cases := []struct {
		name, body, want string
	}{
		{"minimal", `{"command":"sleep 1","nodes":["DONKEY"]}`, ok},
		{"empty command", `{"command":"","nodes":["DONKEY"]}`, ok},
		{"two nodes", `{"command":"x","nodes":["DONKEY","FIONA"]}`, ok},
		{"all options", `{"command":"x","nodes":["a"],"run_timeout":10,"quorum":1,"user":"root","dir":"/tmp","env":{"A":"1"},"file":"raw:foo","capture_output":true}`, ok},
		{"quorum 999", `{"command":"x","nodes":["a"],"quorum":999}`, ok},
		{"quorum 0", `{"command":"x","nodes":["a"],"quorum":0}`, ok},
		{"negative quorum", `{"command":"x","nodes":["a"],"quorum":-1}`, ok},
		{"run_timeout 0", `{"command":"x","nodes":["a"],"run_timeout":0}`, ok},
		{"run_timeout integral float", `{"command":"x","nodes":["a"],"run_timeout":3600.0}`, ok},
		{"file base64", `{"command":"x","nodes":["a"],"file":"base64:Zm9v"}`, ok},
		{"file at the size limit raw", `{"command":"x","nodes":["a"],"file":"` + bigRaw + `"}`, ok},
		{"file at the size limit base64", `{"command":"x","nodes":["a"],"file":"` + bigB64 + `"}`, ok},
		{"capture false", `{"command":"x","nodes":["a"],"capture_output":false}`, ok},

		{"command missing", `{"nodes":["a"]}`, msgBadCommand},
		{"command array", `{"command":[],"nodes":["a"]}`, msgBadCommand},
		{"command object", `{"command":{},"nodes":["a"]}`, msgBadCommand},
		{"command number", `{"command":0,"nodes":["a"]}`, msgBadCommand},
		{"command false", `{"command":false,"nodes":["a"]}`, msgBadCommand},
		{"command null", `{"command":null,"nodes":["a"]}`, msgBadCommand},
		{"command wins over extra key", `{"nodes":["a"],"foo":1}`, msgBadCommand},

		{"nodes missing", `{"command":"x"}`, msgBadNodes},
		{"nodes empty string", `{"command":"x","nodes":""}`, msgBadNodes},
		{"nodes string", `{"command":"x","nodes":"DONKEY"}`, msgBadNodes},
		{"nodes empty", `{"command":"x","nodes":[]}`, msgBadNodes},
		{"nodes with false", `{"command":"x","nodes":["a",false]}`, msgBadNodes},
		{"nodes with null", `{"command":"x","nodes":[null]}`, msgBadNodes},
		{"nodes with object", `{"command":"x","nodes":[{}]}`, msgBadNodes},
		{"nodes object", `{"command":"x","nodes":{}}`, msgBadNodes},
		{"nodes number", `{"command":"x","nodes":0}`, msgBadNodes},
		{"nodes false", `{"command":"x","nodes":false}`, msgBadNodes},
		{"nodes null", `{"command":"x","nodes":null}`, msgBadNodes},

		{"quorum empty string", `{"command":"x","nodes":["a"],"quorum":""}`, msgBadQuorum},
		{"quorum string", `{"command":"x","nodes":["a"],"quorum":"1"}`, msgBadQuorum},
		{"quorum array", `{"command":"x","nodes":["a"],"quorum":[]}`, msgBadQuorum},
		{"quorum object", `{"command":"x","nodes":["a"],"quorum":{}}`, msgBadQuorum},
		{"quorum false", `{"command":"x","nodes":["a"],"quorum":false}`, msgBadQuorum},
		{"quorum null", `{"command":"x","nodes":["a"],"quorum":null}`, msgBadQuorum},
		{"quorum fraction", `{"command":"x","nodes":["a"],"quorum":1.5}`, msgQuorumInteger},

		{"run_timeout empty string", `{"command":"x","nodes":["a"],"run_timeout":""}`, msgBadRunTimeout},
		{"run_timeout string", `{"command":"x","nodes":["a"],"run_timeout":"1"}`, msgBadRunTimeout},
		{"run_timeout array", `{"command":"x","nodes":["a"],"run_timeout":[]}`, msgBadRunTimeout},
		{"run_timeout object", `{"command":"x","nodes":["a"],"run_timeout":{}}`, msgBadRunTimeout},
		{"run_timeout false", `{"command":"x","nodes":["a"],"run_timeout":false}`, msgBadRunTimeout},
		{"run_timeout null", `{"command":"x","nodes":["a"],"run_timeout":null}`, msgBadRunTimeout},
		{"run_timeout fraction", `{"command":"x","nodes":["a"],"run_timeout":1.5}`, msgRunTimeoutInt},
		{"run_timeout negative", `{"command":"x","nodes":["a"],"run_timeout":-1}`, msgRunTimeoutInt},
		{"run_timeout huge", `{"command":"x","nodes":["a"],"run_timeout":1e20}`, msgRunTimeoutInt},

		{"capture string", `{"command":"x","nodes":["a"],"capture_output":"true"}`, msgBadCapture},
		{"capture number", `{"command":"x","nodes":["a"],"capture_output":1}`, msgBadCapture},
		{"capture null", `{"command":"x","nodes":["a"],"capture_output":null}`, msgBadCapture},

		{"extra key null", `{"command":"x","nodes":["a"],"foo":null}`, msgBadKey},
		{"extra key empty", `{"command":"x","nodes":["a"],"foo":""}`, msgBadKey},
		{"extra key string", `{"command":"x","nodes":["a"],"foo":"bar"}`, msgBadKey},
		{"extra key number", `{"command":"x","nodes":["a"],"foo":0}`, msgBadKey},
		{"extra key before empty nodes", `{"command":"x","nodes":[],"foo":0}`, msgBadKey},

		{"user number", `{"command":"x","nodes":["a"],"user":1}`, msgUnknown},
		{"dir array", `{"command":"x","nodes":["a"],"dir":[]}`, msgUnknown},
		{"env array", `{"command":"x","nodes":["a"],"env":[]}`, msgUnknown},
		{"env value number", `{"command":"x","nodes":["a"],"env":{"A":1}}`, msgUnknown},
		{"file number", `{"command":"x","nodes":["a"],"file":1}`, msgUnknown},
		{"env duplicate key", `{"command":"x","nodes":["a"],"env":{"A":"1","A":"2"}}`, msgDupEnv},
		{"file without prefix", `{"command":"x","nodes":["a"],"file":"foo"}`, msgBadFile},
		{"file bad base64", `{"command":"x","nodes":["a"],"file":"base64:!!!"}`, msgBadBase64},
		{"file too big raw", `{"command":"x","nodes":["a"],"file":"` + tooBigRaw + `"}`, msgBadFileLen},
		{"file too big base64", `{"command":"x","nodes":["a"],"file":"` + tooBigB64 + `"}`, msgBadFileLen},

		{"not JSON", `command=x`, msgInvalidJSON},
		{"JSON array", `[1]`, msgInvalidJSON},
		{"JSON null", `null`, msgInvalidJSON},
		{"trailing garbage", `{"command":"x","nodes":["a"]} {}`, msgInvalidJSON},
		{"empty body", ``, msgInvalidJSON},
		{"duplicate nodes", `{"command":"x","nodes":["a","b","a"]}`, msgDupNodes},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec, err := ParseJobSpec([]byte(c.body))
			if c.want == ok {
				if err != nil {
					t.Fatalf("ParseJobSpec(%s) = %v, want success", c.body, err)
				}
				if spec == nil || len(spec.Nodes) == 0 {
					t.Fatalf("ParseJobSpec(%s) returned no nodes", c.body)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseJobSpec(%s) succeeded, want %q", c.body, c.want)
			}
			if err.Error() != c.want {
				t.Fatalf("ParseJobSpec(%s) = %q, want %q", c.body, err.Error(), c.want)
			}
		})
	}
}

func TestParseJobSpecValues(t *testing.T) {
	spec, err := ParseJobSpec([]byte(`{"command":"echo hi","nodes":["a","b"],"run_timeout":25,"quorum":1,"user":"root","dir":"/tmp","env":{"K":"V"},"file":"raw:x","capture_output":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if spec.Command != "echo hi" || len(spec.Nodes) != 2 || *spec.RunTimeout != 25 || *spec.Quorum != 1 ||
		*spec.User != "root" || *spec.Dir != "/tmp" || spec.Env["K"] != "V" || spec.File != "raw:x" || !spec.CaptureOutput {
		t.Fatalf("unexpected spec %+v", spec)
	}
	spec, err = ParseJobSpec([]byte(`{"command":"x","nodes":["a"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if spec.RunTimeout != nil || spec.Quorum != nil || spec.User != nil || spec.Dir != nil || spec.Env != nil || spec.File != "" || spec.CaptureOutput {
		t.Fatalf("absent options must stay absent: %+v", spec)
	}
}

func TestNewJobID(t *testing.T) {
	guid := "0123456789abcdef0123456789abcdef"
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := NewJobID(guid)
		if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
			t.Fatalf("job id %q is not 32 lowercase hex digits", id)
		}
		if !strings.HasPrefix(id, guid[20:]) {
			t.Fatalf("job id %q does not start with the org GUID's last 12 digits", id)
		}
		if seen[id] {
			t.Fatalf("duplicate job id %q", id)
		}
		seen[id] = true
	}
}
