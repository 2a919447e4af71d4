package wire

import "unicode/utf8"

// decodeNodeFast decodes the node messages real clients send (a flat JSON object of the known
// keys, plain ASCII strings, an integer sequence) without reflection. It gives up (ok false)
// on anything else: escapes, non-ASCII text, other keys or value types, numbers that are not
// plain integers. Where it succeeds, the result is what encoding/json gives; DecodeNode falls
// back to encoding/json where it gives up, so the rules stay those of encoding/json.
func decodeNodeFast(b []byte) (m NodeMessage, jobID []byte, ok bool) {
	p := fastParser{b: b}
	p.space()
	if !p.byte('{') {
		return m, nil, false
	}
	p.space()
	if p.byte('}') {
		return m, nil, p.end()
	}
	for {
		p.space()
		key, ok := p.str()
		if !ok {
			return m, nil, false
		}
		p.space()
		if !p.byte(':') {
			return m, nil, false
		}
		p.space()
		var dst *string
		switch string(key) {
		case "node":
			dst = &m.Node
		case "client":
			dst = &m.Client
		case "protocol_version":
			dst = &m.ProtocolVersion
		case "org":
			dst = &m.Org
		case "type":
			dst = &m.Type
		case "timestamp":
			dst = &m.Timestamp
		case "incarnation_id":
			dst = &m.IncarnationID
		case "job_state":
			dst = &m.JobState
		case "sequence":
			if p.null() {
				break
			}
			n, ok := p.int()
			if !ok {
				return m, nil, false
			}
			m.Sequence = n
		case "job_id":
			start := p.i
			if !p.null() {
				if _, ok := p.str(); !ok {
					return m, nil, false
				}
			}
			jobID = b[start:p.i]
		case "stdout", "stderr":
			ptr := &m.Stdout
			if key[3] == 'e' {
				ptr = &m.Stderr
			}
			if p.null() {
				*ptr = nil
				break
			}
			s, ok := p.str()
			if !ok {
				return m, nil, false
			}
			v := string(s)
			*ptr = &v
		default:
			return m, nil, false
		}
		if dst != nil && !p.null() {
			s, ok := p.str()
			if !ok {
				return m, nil, false
			}
			*dst = string(s)
		}
		p.space()
		if p.byte('}') {
			return m, jobID, p.end()
		}
		if !p.byte(',') {
			return m, nil, false
		}
	}
}

type fastParser struct {
	b []byte
	i int
}

func (p *fastParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *fastParser) byte(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// end reports whether only white space follows.
func (p *fastParser) end() bool {
	p.space()
	return p.i == len(p.b)
}

func (p *fastParser) null() bool {
	if len(p.b)-p.i >= 4 && string(p.b[p.i:p.i+4]) == "null" {
		p.i += 4
		return true
	}
	return false
}

// str reads a string of printable ASCII without escapes and returns its contents.
func (p *fastParser) str() ([]byte, bool) {
	if !p.byte('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return p.b[start : p.i-1], true
		case c == '\\' || c < 0x20 || c >= utf8.RuneSelf:
			return nil, false
		}
		p.i++
	}
	return nil, false
}

// int reads an integer as JSON writes it (no leading zeros, no fraction or exponent) that fits
// an int64.
func (p *fastParser) int() (int64, bool) {
	neg := p.byte('-')
	start := p.i
	var n uint64
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		if p.i-start >= 18 { // beyond 18 digits, leave overflow checks to encoding/json
			return 0, false
		}
		n = n*10 + uint64(p.b[p.i]-'0')
		p.i++
	}
	digits := p.i - start
	if digits == 0 || (digits > 1 && p.b[start] == '0') {
		return 0, false
	}
	if p.i < len(p.b) {
		switch p.b[p.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}
