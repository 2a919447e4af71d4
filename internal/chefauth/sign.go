package chefauth

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// TimestampLayout is X-Ops-Timestamp: ISO 8601 in UTC.
const TimestampLayout = "2006-01-02T15:04:05Z"

// Signer signs requests as one user or client.
type Signer struct {
	UserID           string
	Key              *rsa.PrivateKey
	Crypto           crypto.Signer    // signs in Key's place when set (the same key, held elsewhere)
	Version          string           // "1.0", "1.1" (when empty), "1.3"
	ServerAPIVersion string           // X-Ops-Server-API-Version; "0" when empty
	Now              func() time.Time // nil = time.Now
}

func (s *Signer) version() string {
	if s.Version == "" {
		return "1.1"
	}
	return s.Version
}

// Headers returns every X-Ops-* header for a request.
func (s *Signer) Headers(method, path string, body []byte) (http.Header, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	if s.Key == nil {
		return nil, fmt.Errorf("signer for %q has no key", s.UserID)
	}
	v := s.version()
	api := s.ServerAPIVersion
	if api == "" {
		api = "0"
	}
	var signer crypto.Signer = s.Key
	if s.Crypto != nil {
		signer = s.Crypto
	}
	ts := now().UTC().Format(TimestampLayout)
	h := http.Header{}
	var sig []byte
	var err error
	switch v {
	case "1.0", "1.1":
		hash := b64(sha1Sum(body))
		h.Set("X-Ops-Sign", "algorithm=sha1;version="+v)
		h.Set("X-Ops-Content-Hash", hash)
		canon := canonicalV1(method, path, hash, ts, s.UserID, v)
		sig, err = signer.Sign(rand.Reader, []byte(canon), crypto.Hash(0))
	case "1.3":
		hash := b64(sha256Sum(body))
		h.Set("X-Ops-Sign", "algorithm=sha256;version=1.3")
		h.Set("X-Ops-Content-Hash", hash)
		canon := canonicalV13(method, path, hash, ts, s.UserID, api)
		d := sha256.Sum256([]byte(canon))
		sig, err = signer.Sign(rand.Reader, d[:], crypto.SHA256)
	default:
		return nil, fmt.Errorf("unsupported signing version %q", v)
	}
	if err != nil {
		return nil, err
	}
	h.Set("X-Ops-Userid", s.UserID)
	h.Set("X-Ops-Timestamp", ts)
	h.Set("X-Ops-Server-API-Version", api)
	enc := base64.StdEncoding.EncodeToString(sig)
	for i := 0; len(enc) > 0; i++ {
		n := min(60, len(enc))
		h.Set("X-Ops-Authorization-"+strconv.Itoa(i+1), enc[:n])
		enc = enc[n:]
	}
	return h, nil
}

// Sign sets the signing headers on req; body must be what req sends.
func (s *Signer) Sign(req *http.Request, body []byte) error {
	h, err := s.Headers(req.Method, req.URL.Path, body)
	if err != nil {
		return err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	return nil
}

// RoundTripper signs every request it carries; the body is read and restored.
func (s *Signer) RoundTripper(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return roundTripper{s: s, base: base}
}

type roundTripper struct {
	s    *Signer
	base http.RoundTripper
}

func (rt roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	r := req.Clone(req.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	if err := rt.s.Sign(r, body); err != nil {
		return nil, err
	}
	return rt.base.RoundTrip(r)
}

var doubleSlash = regexp.MustCompile(`/+/`)

// CanonicalPath drops the query, collapses repeated slashes and drops a trailing slash.
func CanonicalPath(p string) string {
	if p == "/" {
		return p
	}
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	p = doubleSlash.ReplaceAllString(p, "/")
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return "/"
	}
	return p
}

func canonicalV1(method, path, hash, ts, user, version string) string {
	uid := user
	if version == "1.1" || version == "1.2" {
		uid = b64(sha1Sum([]byte(user)))
	}
	return "Method:" + strings.ToUpper(method) + "\nHashed Path:" + b64(sha1Sum([]byte(CanonicalPath(path)))) +
		"\nX-Ops-Content-Hash:" + hash + "\nX-Ops-Timestamp:" + ts + "\nX-Ops-UserId:" + uid
}

func canonicalV13(method, path, hash, ts, user, api string) string {
	return "Method:" + strings.ToUpper(method) + "\nPath:" + CanonicalPath(path) + "\nX-Ops-Content-Hash:" + hash +
		"\nX-Ops-Sign:version=1.3\nX-Ops-Timestamp:" + ts + "\nX-Ops-UserId:" + user + "\nX-Ops-Server-API-Version:" + api
}

func sha1Sum(b []byte) []byte   { s := sha1.Sum(b); return s[:] }
func sha256Sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
func b64(b []byte) string       { return base64.StdEncoding.EncodeToString(b) }
