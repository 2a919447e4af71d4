package fakenodes

import (
	"bytes"
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushlab/pushlab/internal/wire"
)

// inbound is a server message as the real client reads it: loosely typed, values tested for
// Ruby truthiness (nil and false are false).
type inbound struct {
	Type          any `json:"type"`
	JobID         any `json:"job_id"`
	Command       any `json:"command"`
	User          any `json:"user"`
	Dir           any `json:"dir"`
	Env           any `json:"env"`
	File          any `json:"file"`
	Capture       any `json:"capture"`
	Timestamp     any `json:"timestamp"`
	IncarnationID any `json:"incarnation_id"`
	Sequence      any `json:"sequence"`

	// derived once at parse time
	typ   string
	ts    time.Time
	tsErr string // why the timestamp is unusable, "" when fine
}

func truthy(v any) bool { return v != nil && v != false }

// str renders a value as the client would pass it on: strings as they are, others as JSON.
func str(v any) string {
	switch s := v.(type) {
	case nil:
		return ""
	case string:
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func parseInbound(body []byte) (*inbound, error) {
	var m inbound
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	m.typ, _ = m.Type.(string)
	switch ts := m.Timestamp.(type) {
	case nil:
		m.tsErr = "missing timestamp"
	case string:
		t, err := wire.ParseTime(ts)
		if err != nil {
			m.tsErr = "unparseable timestamp"
		}
		m.ts = t
	default:
		m.tsErr = "unparseable timestamp"
	}
	return &m, nil
}

// rubyHeader splits a header frame as the real client does: parts on ';', each "key:value"
// (a value cut at its next ':'). It returns the signing method and the decoded signature.
func rubyHeader(h []byte) (method string, sig []byte, ok bool) {
	var sigText []byte
	found := false
	for part := range bytes.SplitSeq(h, []byte{';'}) {
		k, v, _ := bytes.Cut(part, []byte{':'})
		if i := bytes.IndexByte(v, ':'); i >= 0 {
			v = v[:i]
		}
		switch string(k) {
		case "Signature":
			sigText, found = v, len(v) > 0
		case "SigningMethod":
			method = string(v)
		}
	}
	if !found {
		return method, nil, false
	}
	return method, decodeLenient(sigText), true
}

// decodeLenient decodes base64 as Ruby's decode64: characters outside the alphabet are skipped.
func decodeLenient(s []byte) []byte {
	clean := make([]byte, 0, len(s))
	for _, c := range s {
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' {
			clean = append(clean, c)
		}
	}
	out, err := base64.RawStdEncoding.DecodeString(string(clean[:len(clean)/4*4+rem(len(clean))]))
	if err != nil {
		return nil
	}
	return out
}

// rem keeps a trailing group of 2 or 3 characters (they carry bytes), drops a lone one.
func rem(n int) int {
	if n%4 == 1 {
		return 0
	}
	return n % 4
}

// hmacValid checks sig against mac (keyed and reset) over body.
func hmacValid(mac hash.Hash, body, sig []byte) bool {
	mac.Write(body)
	var sum [sha256.Size]byte
	return hmac.Equal(mac.Sum(sum[:0]), sig)
}

// verifier checks rsa2048_sha1 signatures once per distinct message per process: every node
// of a fleet receives the same server heartbeat bytes, so the first node to see one verifies
// and parses it and the others reuse the result.
type verifier struct {
	mu      sync.Mutex
	entries map[string]*verified
	order   []string
	count   atomic.Int64 // verifications done
}

type verified struct {
	ok  bool
	msg *inbound
}

const verifierCap = 256

func newVerifier() *verifier { return &verifier{entries: map[string]*verified{}} }

// verify returns the shared result for (key, header, body), sig being the decoded signature of
// the header; scratch is reused for the lookup key.
func (v *verifier) verify(keyID uint32, pub *rsa.PublicKey, header, body, sig []byte, scratch *[]byte) *verified {
	k := (*scratch)[:0]
	k = append(k, byte(keyID>>24), byte(keyID>>16), byte(keyID>>8), byte(keyID))
	k = append(k, header...)
	k = append(k, 0)
	k = append(k, body...)
	*scratch = k
	v.mu.Lock()
	defer v.mu.Unlock()
	if r, ok := v.entries[string(k)]; ok {
		return r
	}
	v.count.Add(1)
	r := &verified{ok: pub != nil && rsa.VerifyPKCS1v15(pub, crypto.Hash(0), []byte(wire.SHA1Checksum(body)), sig) == nil}
	if r.ok {
		r.msg, _ = parseInbound(body)
	}
	if len(v.order) >= verifierCap {
		for _, old := range v.order[:verifierCap/2] {
			delete(v.entries, old)
		}
		v.order = append(v.order[:0], v.order[verifierCap/2:]...)
	}
	key := string(k)
	v.entries[key] = r
	v.order = append(v.order, key)
	return r
}
