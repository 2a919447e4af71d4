package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// MaxFileSize is the largest decoded job file the server accepts (protocol.md §2.5).
const MaxFileSize = 100000

// JobSpec is a validated POST /jobs body.
type JobSpec struct {
	Command       string
	Nodes         []string
	RunTimeout    *int64 // nil when absent: the server default applies
	Quorum        *int   // nil when absent: the number of nodes
	User, Dir     *string
	Env           map[string]string
	File          string
	CaptureOutput bool
}

// validationError is a job validation failure; the body is {"error": "<message>"} (a string, not
// an array, unlike the authentication errors).
type validationError string

func (e validationError) Error() string { return string(e) }

// The exact messages of the real server (pushy_jobs_resource.erl).
const (
	msgBadCommand     = "invalid command supplied"
	msgBadNodes       = "at least one node must be supplied"
	msgBadKey         = "invalid key supplied"
	msgBadQuorum      = "invalid type supplied for quorum (expected a number)"
	msgBadRunTimeout  = "invalid type supplied for run_timeout (expected a number)"
	msgBadCapture     = "invalid type supplied for capture_output (expected a boolean)"
	msgDupEnv         = "invalid environment value (duplicate key)"
	msgBadFile        = "invalid file contents (expected 'base64:...' or 'raw:...')"
	msgBadBase64      = "invalid file contents (couldn't decode base64 string)"
	msgUnknown        = "an unknown validation error has occurred"
	msgBadFileLen     = "invalid file size (must be <= 100000 bytes)"
	msgInvalidJSON    = "invalid JSON"                                                             // real server: 500
	msgDupNodes       = "duplicate node names supplied"                                            // real server: 500
	msgRunTimeoutInt  = "invalid value supplied for run_timeout (expected a non-negative integer)" // real server: job crashes
	msgQuorumInteger  = "invalid value supplied for quorum (expected an integer)"                  // real server: accepted
	maxRunTimeoutSecs = math.MaxInt32
)

var allowedKeys = map[string]bool{
	"command": true, "nodes": true, "run_timeout": true, "quorum": true, "user": true,
	"dir": true, "env": true, "file": true, "capture_output": true,
}

// ParseJobSpec validates a POST /jobs body in the order the real server does: each key against
// its type (command, nodes, run_timeout, quorum, user, dir, env, file, capture_output), then
// unknown keys, then an empty node list, then duplicate env keys, then the file.
//
// Where the real server crashes (a body that is not a JSON object, duplicate node names, a
// run_timeout that is not a non-negative integer) this returns a 400 message instead; see
// docs/compatibility.md.
func ParseJobSpec(body []byte) (*JobSpec, error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return nil, validationError(msgInvalidJSON)
	}
	if dec.More() {
		return nil, validationError(msgInvalidJSON)
	}
	spec := &JobSpec{}

	// command: string
	if err := decodeString(raw, "command", true, &spec.Command); err != nil {
		return nil, validationError(msgBadCommand)
	}
	// nodes: array of strings
	nodesRaw, ok := raw["nodes"]
	if !ok {
		return nil, validationError(msgBadNodes)
	}
	var nodes []any
	if err := json.Unmarshal(nodesRaw, &nodes); err != nil || nodes == nil {
		return nil, validationError(msgBadNodes)
	}
	for _, n := range nodes {
		s, ok := n.(string)
		if !ok {
			return nil, validationError(msgBadNodes)
		}
		spec.Nodes = append(spec.Nodes, s)
	}
	// run_timeout: number
	if v, ok := raw["run_timeout"]; ok {
		n, err := decodeNumber(v)
		if err != nil {
			return nil, validationError(msgBadRunTimeout)
		}
		f, _ := n.Float64()
		if f < 0 || f != math.Trunc(f) || f > maxRunTimeoutSecs {
			return nil, validationError(msgRunTimeoutInt)
		}
		rt := int64(f)
		spec.RunTimeout = &rt
	}
	// quorum: number
	if v, ok := raw["quorum"]; ok {
		n, err := decodeNumber(v)
		if err != nil {
			return nil, validationError(msgBadQuorum)
		}
		f, _ := n.Float64()
		if f != math.Trunc(f) || math.Abs(f) > math.MaxInt32 {
			return nil, validationError(msgQuorumInteger)
		}
		q := int(f)
		spec.Quorum = &q
	}
	// user, dir: strings
	for _, k := range []struct {
		name string
		dst  **string
	}{{"user", &spec.User}, {"dir", &spec.Dir}} {
		if _, ok := raw[k.name]; !ok {
			continue
		}
		var s string
		if err := decodeString(raw, k.name, true, &s); err != nil {
			return nil, validationError(msgUnknown)
		}
		*k.dst = &s
	}
	// env: object of string -> string
	var envDup bool
	if v, ok := raw["env"]; ok {
		env, dup, err := decodeEnv(v)
		if err != nil {
			return nil, validationError(msgUnknown)
		}
		spec.Env, envDup = env, dup
	}
	// file: string
	if _, ok := raw["file"]; ok {
		if err := decodeString(raw, "file", true, &spec.File); err != nil {
			return nil, validationError(msgUnknown)
		}
	}
	// capture_output: boolean
	if v, ok := raw["capture_output"]; ok {
		if err := json.Unmarshal(v, &spec.CaptureOutput); err != nil || string(bytes.TrimSpace(v)) == "null" {
			return nil, validationError(msgBadCapture)
		}
	}
	for k := range raw {
		if !allowedKeys[k] {
			return nil, validationError(msgBadKey)
		}
	}
	if len(spec.Nodes) == 0 {
		return nil, validationError(msgBadNodes)
	}
	if envDup {
		return nil, validationError(msgDupEnv)
	}
	if _, ok := raw["file"]; ok {
		if err := validateFile(spec.File); err != nil {
			return nil, err
		}
	}
	seen := make(map[string]bool, len(spec.Nodes))
	for _, n := range spec.Nodes {
		if seen[n] {
			return nil, validationError(msgDupNodes)
		}
		seen[n] = true
	}
	return spec, nil
}

func decodeString(raw map[string]json.RawMessage, key string, required bool, dst *string) error {
	v, ok := raw[key]
	if !ok {
		if required {
			return fmt.Errorf("%s missing", key)
		}
		return nil
	}
	if string(bytes.TrimSpace(v)) == "null" {
		return fmt.Errorf("%s is null", key)
	}
	return json.Unmarshal(v, dst)
}

func decodeNumber(v json.RawMessage) (json.Number, error) {
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return "", err
	}
	n, ok := x.(json.Number)
	if !ok {
		return "", fmt.Errorf("not a number")
	}
	return n, nil
}

// decodeEnv reads a JSON object of strings, reporting duplicate keys (which encoding/json would
// silently collapse).
func decodeEnv(v json.RawMessage) (map[string]string, bool, error) {
	dec := json.NewDecoder(bytes.NewReader(v))
	tok, err := dec.Token()
	if err != nil {
		return nil, false, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, false, fmt.Errorf("env is not an object")
	}
	env := map[string]string{}
	dup := false
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, false, err
		}
		k := kt.(string)
		vt, err := dec.Token()
		if err != nil {
			return nil, false, err
		}
		s, ok := vt.(string)
		if !ok {
			return nil, false, fmt.Errorf("env value for %q is not a string", k)
		}
		if _, ok := env[k]; ok {
			dup = true
		}
		env[k] = s
	}
	return env, dup, nil
}

func validateFile(f string) error {
	switch {
	case strings.HasPrefix(f, "base64:"):
		b, err := decodeBase64Lenient(strings.TrimPrefix(f, "base64:"))
		if err != nil {
			return validationError(msgBadBase64)
		}
		if len(b) > MaxFileSize {
			return validationError(msgBadFileLen)
		}
	case strings.HasPrefix(f, "raw:"):
		if len(f)-len("raw:") > MaxFileSize {
			return validationError(msgBadFileLen)
		}
	default:
		return validationError(msgBadFile)
	}
	return nil
}

// decodeBase64Lenient decodes standard base64 ignoring whitespace, as Erlang's base64:decode does.
func decodeBase64Lenient(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\n', '\r', '\t':
			return -1
		}
		return r
	}, s)
	return base64.StdEncoding.DecodeString(s)
}
