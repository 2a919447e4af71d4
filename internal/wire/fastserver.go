package wire

import (
	"encoding/json"
	"strconv"
)

// AppendServerMessage appends the JSON of m, byte for byte what json.Marshal writes, without
// reflection for the usual cases (plain ASCII strings, a commit without env); anything else
// goes through json.Marshal.
func AppendServerMessage(dst []byte, m ServerMessage) ([]byte, error) {
	start := len(dst)
	var ok bool
	switch v := m.(type) {
	case Abort:
		dst, ok = appendField(append(dst, '{'), "type", v.Type, true)
		dst, ok = appendStamp(dst, v.Stamp, ok)
	case Ack:
		dst, ok = appendField(append(dst, '{'), "type", v.Type, true)
		dst, ok = appendStamp(dst, v.Stamp, ok)
	case Run:
		dst, ok = appendField(append(dst, '{'), "type", v.Type, true)
		dst, ok = appendField(dst, "job_id", v.JobID, ok)
		dst, ok = appendStamp(dst, v.Stamp, ok)
	case ServerHeartbeat:
		dst, ok = appendField(append(dst, '{'), "server", v.Server, true)
		dst, ok = appendField(dst, "type", v.Type, ok)
		dst, ok = appendField(dst, "incarnation_id", v.IncarnationID, ok)
		dst, ok = appendStamp(dst, v.Stamp, ok)
	case Commit:
		ok = len(v.Env) == 0
		dst, ok = appendField(append(dst, '{'), "type", v.Type, ok)
		dst, ok = appendField(dst, "job_id", v.JobID, ok)
		dst, ok = appendField(dst, "server", v.Server, ok)
		dst, ok = appendField(dst, "command", v.Command, ok)
		for _, f := range [...]struct{ k, v string }{{"user", v.User}, {"dir", v.Dir}, {"file", v.File}} {
			if f.v != "" {
				dst, ok = appendField(dst, f.k, f.v, ok)
			}
		}
		dst = append(dst, `,"capture":`...)
		dst = strconv.AppendBool(dst, v.Capture)
		dst, ok = appendStamp(dst, v.Stamp, ok)
	}
	if ok {
		return dst, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return dst[:start], err
	}
	return append(dst[:start], b...), nil
}

// appendField appends "key":"value" (after a comma unless dst ends with '{') when value needs
// no escaping; ok false means json.Marshal must do it.
func appendField(dst []byte, key, value string, ok bool) ([]byte, bool) {
	if !ok {
		return dst, false
	}
	for i := 0; i < len(value); i++ {
		switch c := value[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return dst, false
		}
	}
	if dst[len(dst)-1] != '{' {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, key...)
	dst = append(dst, `":"`...)
	dst = append(dst, value...)
	return append(dst, '"'), true
}

// appendStamp appends the sequence and timestamp and closes the object.
func appendStamp(dst []byte, s Stamp, ok bool) ([]byte, bool) {
	if !ok {
		return dst, false
	}
	dst = append(dst, `,"sequence":`...)
	dst = strconv.AppendInt(dst, s.Sequence, 10)
	if dst, ok = appendField(dst, "timestamp", s.Timestamp, ok); !ok {
		return dst, false
	}
	return append(dst, '}'), true
}
