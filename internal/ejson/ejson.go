package ejson

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// Field is one key of an Object.
type Field struct {
	Key   string
	Value any
}

// Object marshals as a JSON object with its keys in order.
type Object []Field

// MarshalJSON writes the object's fields in order.
func (o Object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	o.AppendTo(&b)
	return b.Bytes(), nil
}

// AppendTo writes the object to b; a value that cannot be encoded is written as null.
func (o Object) AppendTo(b *bytes.Buffer) {
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		appendValue(b, f.Key)
		b.WriteByte(':')
		appendValue(b, f.Value)
	}
	b.WriteByte('}')
}

// AppendField writes ",key:value", for callers that extend an object they have already begun.
func AppendField(b *bytes.Buffer, key string, value any) {
	b.WriteByte(',')
	appendValue(b, key)
	b.WriteByte(':')
	appendValue(b, value)
}

func appendValue(b *bytes.Buffer, v any) {
	out, err := Marshal(v)
	if err != nil {
		out = []byte("null")
	}
	b.Write(out)
}

// Marshal is json.Marshal without HTML escaping ("<", ">" and "&" are written as they are, as
// the real server writes them) and without the trailing newline of an Encoder.
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Float is a number written as an Erlang float is: 10.0, 0.25.
type Float float64

// MarshalJSON writes f with at least one fractional digit.
func (f Float) MarshalJSON() ([]byte, error) {
	s := strconv.FormatFloat(float64(f), 'f', -1, 64)
	if !bytes.ContainsAny([]byte(s), ".eE") {
		s += ".0"
	}
	return []byte(s), nil
}
