package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/pushlab/pushlab/internal/chefauth"
)

// kv is one key of an ordered JSON object: the real server's key order, kept for byte-level
// comparisons by clients that diff bodies.
type kv struct {
	k string
	v any
}

// orderedObject marshals as a JSON object with keys in the given order.
type orderedObject []kv

func (o orderedObject) MarshalJSON() ([]byte, error) { return encodeOrdered(o), nil }

func encodeOrdered(fields []kv) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.k)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(f.v)
		if err != nil {
			v = []byte("null")
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// floatSeconds renders seconds as the real server does (an Erlang float: 10.0, 0.25).
type floatSeconds float64

func (f floatSeconds) MarshalJSON() ([]byte, error) {
	s := strconv.FormatFloat(float64(f), 'f', -1, 64)
	if !bytes.ContainsAny([]byte(s), ".eE") {
		s += ".0"
	}
	return []byte(s), nil
}

func writeRaw(w http.ResponseWriter, status int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"error":["internal service error"]}`)
		status = http.StatusInternalServerError
	}
	writeRaw(w, status, "application/json", b)
}

func writeJSONOrdered(w http.ResponseWriter, status int, fields []kv) {
	writeRaw(w, status, "application/json", encodeOrdered(fields))
}

// writeErrors writes the authentication/authorization error shape: {"error": [msg]}.
func writeErrors(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string][]string{"error": {msg}})
}

func unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", chefauth.WWWAuthenticate)
	writeErrors(w, http.StatusUnauthorized, msg)
}

// notFoundBody is the body webmachine sends with a 404 from resource_exists.
const notFoundBody = "<HTML><HEAD><TITLE>404 Not Found</TITLE></HEAD><BODY><H1>Not Found</H1>The requested document was not found on this server.<P><HR><ADDRESS>mochiweb+webmachine web server</ADDRESS></BODY></HTML>"

func notFound(w http.ResponseWriter) {
	writeRaw(w, http.StatusNotFound, "text/html", []byte(notFoundBody))
}
