package fakenodes

import (
	"strconv"
	"unicode/utf8"

	"github.com/pushlab/pushlab/fakenodes/behaviour"
	"github.com/pushlab/pushlab/internal/wire"
)

// identity is the part of every node message that depends on the node process, not the message.
type identity struct {
	node, client, org, incarnation string
}

// appendMessage encodes a node message as the real client's JSON.generate does: keys in the
// client's order (node, client, protocol_version, org, type, sequence, timestamp,
// incarnation_id, then job_state and job_id for heartbeats, job_id and the output for the
// others), UTF-8 written as is, only quote, backslash and control characters escaped.
// withOutput false leaves stdout and stderr out.
func appendMessage(b []byte, id *identity, m *behaviour.Message, seq int64, ts string, withOutput bool) []byte {
	b = append(b, `{"node":`...)
	b = appendString(b, id.node)
	b = append(b, `,"client":`...)
	b = appendString(b, id.client)
	b = append(b, `,"protocol_version":"`...)
	b = append(b, wire.ProtocolVersion...)
	b = append(b, `","org":`...)
	b = appendString(b, id.org)
	b = append(b, `,"type":`...)
	b = appendString(b, m.Type)
	b = append(b, `,"sequence":`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `,"timestamp":`...)
	b = appendString(b, ts)
	b = append(b, `,"incarnation_id":`...)
	b = appendString(b, id.incarnation)
	if m.JobState != "" {
		b = append(b, `,"job_state":`...)
		b = appendString(b, string(m.JobState))
	}
	b = append(b, `,"job_id":`...)
	if m.JobID == "" {
		b = append(b, "null"...)
	} else {
		b = appendString(b, m.JobID)
	}
	if withOutput {
		if m.Stdout != nil {
			b = append(b, `,"stdout":`...)
			b = appendString(b, *m.Stdout)
		}
		if m.Stderr != nil {
			b = append(b, `,"stderr":`...)
			b = appendString(b, *m.Stderr)
		}
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string the way Ruby's generator does. Invalid UTF-8 becomes
// U+FFFD (Ruby would refuse to send it at all).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"':
				b = append(b, `\"`...)
			case '\\':
				b = append(b, `\\`...)
			case '\n':
				b = append(b, `\n`...)
			case '\r':
				b = append(b, `\r`...)
			case '\t':
				b = append(b, `\t`...)
			case '\b':
				b = append(b, `\b`...)
			case '\f':
				b = append(b, `\f`...)
			default:
				b = append(b, `\u00`...)
				b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, "\ufffd"...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// outputSize is the byte size validate_params compares with the client's max body size.
func outputSize(m *behaviour.Message) int {
	n := 0
	if m.Stdout != nil {
		n += len(*m.Stdout)
	}
	if m.Stderr != nil {
		n += len(*m.Stderr)
	}
	return n
}

// encodeBody applies the real client's size rules: output larger than maxBody in total is
// dropped; if the message is still larger than maxBody, the output is dropped; if even then
// it is too large, ok is false and nothing is to be sent.
func encodeBody(b []byte, id *identity, m *behaviour.Message, seq int64, ts string, maxBody int) (body []byte, outputDropped, ok bool) {
	withOutput := m.Stdout != nil || m.Stderr != nil
	if withOutput && outputSize(m) > maxBody {
		withOutput, outputDropped = false, true
	}
	start := len(b)
	b = appendMessage(b, id, m, seq, ts, withOutput)
	if len(b)-start > maxBody && withOutput {
		b = appendMessage(b[:start], id, m, seq, ts, false)
		outputDropped = true
	}
	if len(b)-start > maxBody {
		return b[start:], outputDropped, false
	}
	return b[start:], outputDropped, true
}
