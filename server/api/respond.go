package api

import (
	"net/http"
	"strconv"

	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/internal/ejson"
)

// kv is one key of an ordered JSON object: the real server's key order, kept for byte-level
// comparisons by clients that diff bodies.
type kv struct {
	k string
	v any
}

// object turns fields into an ordered JSON object.
func object(fields []kv) ejson.Object {
	o := make(ejson.Object, len(fields))
	for i, f := range fields {
		o[i] = ejson.Field{Key: f.k, Value: f.v}
	}
	return o
}

func writeRaw(w http.ResponseWriter, status int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := ejson.Marshal(v)
	if err != nil {
		b = []byte(`{"error":["internal service error"]}`)
		status = http.StatusInternalServerError
	}
	writeRaw(w, status, "application/json", b)
}

func writeJSONOrdered(w http.ResponseWriter, status int, fields []kv) {
	b, _ := ejson.Marshal(object(fields))
	writeRaw(w, status, "application/json", b)
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
