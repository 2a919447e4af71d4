package chefauth

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// AuthSkew is the largest accepted distance between X-Ops-Timestamp and the server clock.
const AuthSkew = 900 * time.Second

// WWWAuthenticate is the header value of every 401 the real server sends.
const WWWAuthenticate = `X-Ops-Sign version="1.0" version="1.1"`

// Error is a request rejected before any key is looked up, with the exact status and message.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

// requiredHeaders in chef_authn's order, which the error message keeps.
var requiredHeaders = []string{"X-Ops-UserId", "X-Ops-Timestamp", "X-Ops-Sign", "X-Ops-Content-Hash"}

// Parsed holds the signing headers of a request that passed ParseHeaders.
type Parsed struct {
	UserID           string
	Version          string
	Algorithm        string
	Timestamp        time.Time
	RawTimestamp     string
	ContentHash      string
	ServerAPIVersion string
	Signature        string // base64, X-Ops-Authorization-1..N joined
}

// header returns a header value, an empty value counting as missing (as the real server does).
func header(h http.Header, name string) string { return h.Get(name) }

// ParseHeaders is chef_authn's validate_headers: missing headers (400), then the timestamp
// (401 unparsable, 401 out of the skew window), then the signing description (400).
func ParseHeaders(h http.Header, now time.Time) (*Parsed, error) {
	var missing []string
	for _, name := range requiredHeaders {
		if header(h, name) == "" {
			missing = append(missing, "'"+name+"'")
		}
	}
	if len(missing) > 0 {
		return nil, &Error{400, "missing required authentication header(s) " + strings.Join(missing, ", ")}
	}
	p := &Parsed{
		UserID:           header(h, "X-Ops-UserId"),
		RawTimestamp:     header(h, "X-Ops-Timestamp"),
		ContentHash:      header(h, "X-Ops-Content-Hash"),
		ServerAPIVersion: header(h, "X-Ops-Server-API-Version"),
	}
	ts, ok := parseISO8601(p.RawTimestamp)
	if !ok {
		return nil, &Error{401, "bad header(s) 'X-Ops-Timestamp'"}
	}
	p.Timestamp = ts
	d := now.Sub(ts)
	if d < 0 {
		d = -d
	}
	if d.Truncate(time.Second) >= AuthSkew {
		return nil, &Error{401, "Failed to authenticate as " + p.UserID + ". Synchronize the clock on your host."}
	}
	for _, kv := range strings.Split(header(h, "X-Ops-Sign"), ";") {
		parts := strings.Split(kv, "=")
		if len(parts) != 2 {
			continue
		}
		switch parts[0] {
		case "version":
			if p.Version == "" {
				p.Version = parts[1]
			}
		case "algorithm":
			if p.Algorithm == "" {
				p.Algorithm = parts[1]
			}
		}
	}
	var want string
	switch p.Version {
	case "1.0", "1.1", "1.2":
		want = "sha1"
	case "1.3":
		want = "sha256"
	default:
		return nil, &Error{400, "Unsupported authentication protocol version"}
	}
	if p.Algorithm == "" {
		p.Algorithm = want
	} else if p.Algorithm != want {
		return nil, &Error{400, "Unsupported authentication protocol version"}
	}
	var sig strings.Builder
	for i := 1; ; i++ {
		part := header(h, "X-Ops-Authorization-"+strconv.Itoa(i))
		if part == "" {
			break
		}
		sig.WriteString(part)
	}
	p.Signature = sig.String()
	return p, nil
}

// parseISO8601 reads "YYYY-MM-DDTHH:MM:SSZ" the way chef_time_utils does: six integers split on
// '-', 'T', ':' and 'Z'.
func parseISO8601(s string) (time.Time, bool) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == '-' || r == 'T' || r == ':' || r == 'Z' })
	if len(fields) != 6 {
		return time.Time{}, false
	}
	var n [6]int
	for i, f := range fields {
		v, err := strconv.Atoi(f)
		if err != nil {
			return time.Time{}, false
		}
		n[i] = v
	}
	if n[1] < 1 || n[1] > 12 || n[2] < 1 || n[2] > 31 || n[3] > 23 || n[4] > 59 || n[5] > 59 {
		return time.Time{}, false
	}
	t := time.Date(n[0], time.Month(n[1]), n[2], n[3], n[4], n[5], 0, time.UTC)
	if t.Day() != n[2] {
		return time.Time{}, false
	}
	return t, true
}

// Verify checks the signature over the canonical request against each key in turn and reports
// whether any of them verifies it. For 1.0 and 1.1 the X-Ops-Content-Hash header must also
// equal the body's hash; for 1.3 the body hash is part of the signed string.
func (p *Parsed) Verify(method, path string, body []byte, keys []*rsa.PublicKey) bool {
	raw, err := base64.StdEncoding.DecodeString(strings.Map(dropSpace, p.Signature))
	if err != nil || len(raw) == 0 {
		return false
	}
	// A signature shorter than the key, as clients that do not left-pad their RSA output send
	// about one time in 256, is left-padded: OpenSSL, which the real server verifies with,
	// accepts it.
	padded := func(k *rsa.PublicKey) []byte {
		if len(raw) >= k.Size() {
			return raw
		}
		b := make([]byte, k.Size())
		copy(b[k.Size()-len(raw):], raw)
		return b
	}
	switch p.Version {
	case "1.0", "1.1", "1.2":
		sum := sha1.Sum(body)
		hash := base64.StdEncoding.EncodeToString(sum[:])
		canon := []byte(canonicalV1(method, path, hash, p.RawTimestamp, p.UserID, p.Version))
		if p.Version != "1.2" && subtle.ConstantTimeCompare([]byte(hash), []byte(p.ContentHash)) != 1 {
			return false
		}
		for _, k := range keys {
			if p.Version == "1.2" {
				d := sha1.Sum(canon)
				if rsa.VerifyPKCS1v15(k, crypto.SHA1, d[:], padded(k)) == nil {
					return true
				}
			} else if rsa.VerifyPKCS1v15(k, crypto.Hash(0), canon, padded(k)) == nil {
				return true
			}
		}
	case "1.3":
		sum := sha256.Sum256(body)
		api := p.ServerAPIVersion
		if api == "" {
			api = "0"
		} else if n, err := strconv.Atoi(api); err == nil {
			api = strconv.Itoa(n)
		} else {
			return false
		}
		canon := canonicalV13(method, path, base64.StdEncoding.EncodeToString(sum[:]), p.RawTimestamp, p.UserID, api)
		d := sha256.Sum256([]byte(canon))
		for _, k := range keys {
			if rsa.VerifyPKCS1v15(k, crypto.SHA256, d[:], padded(k)) == nil {
				return true
			}
		}
	}
	return false
}

func dropSpace(r rune) rune {
	switch r {
	case ' ', '\n', '\r', '\t':
		return -1
	}
	return r
}
