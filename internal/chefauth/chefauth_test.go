package chefauth

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gochef "github.com/go-chef/chef"
)

var (
	keyOnce           sync.Once
	testKey, otherKey *rsa.PrivateKey
)

func keys(t testing.TB) (*rsa.PrivateKey, *rsa.PrivateKey) {
	keyOnce.Do(func() {
		var err error
		if testKey, err = GenerateKey(); err != nil {
			panic(err)
		}
		if otherKey, err = GenerateKey(); err != nil {
			panic(err)
		}
	})
	return testKey, otherKey
}

const testPath = "/organizations/pushlab/pushy/jobs"

var testBody = []byte(`{"command":"chef-client","nodes":["DONKEY"]}`)

func signed(t *testing.T, version string, now time.Time) http.Header {
	t.Helper()
	k, _ := keys(t)
	s := &Signer{UserID: "pedant_admin_user", Key: k, Version: version, Now: func() time.Time { return now }}
	h, err := s.Headers("POST", testPath, testBody)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestRoundTrip signs and verifies every version, with the signer's key and only with it.
func TestRoundTrip(t *testing.T) {
	k, other := keys(t)
	now := time.Now()
	for _, v := range []string{"1.0", "1.1", "1.3"} {
		t.Run(v, func(t *testing.T) {
			h := signed(t, v, now)
			p, err := ParseHeaders(h, now)
			if err != nil {
				t.Fatal(err)
			}
			if p.Version != v {
				t.Fatalf("version %q, want %q", p.Version, v)
			}
			if !p.Verify("POST", testPath, testBody, []*rsa.PublicKey{&k.PublicKey}) {
				t.Fatal("valid signature rejected")
			}
			if !p.Verify("post", testPath+"/", testBody, []*rsa.PublicKey{&other.PublicKey, &k.PublicKey}) {
				t.Fatal("signature rejected with the right key second, lower-case method and trailing slash")
			}
			if p.Verify("POST", testPath, testBody, []*rsa.PublicKey{&other.PublicKey}) {
				t.Fatal("signature accepted with another key")
			}
		})
	}
}

// TestHeaderMatrix is the pedant auth-header matrix (protocol.md §3) at the verification level.
func TestHeaderMatrix(t *testing.T) {
	k, other := keys(t)
	now := time.Now()
	type result struct {
		status int    // 0: passes ParseHeaders
		msg    string // exact message when status != 0
		valid  bool   // Verify's answer when status == 0
	}
	cases := []struct {
		name   string
		mutate func(h http.Header) (method, path string, body []byte)
		want   result
	}{
		{"1.1 signed", nil, result{valid: true}},
		{"missing X-Ops-Sign", del("X-Ops-Sign"), result{400, "missing required authentication header(s) 'X-Ops-Sign'", false}},
		{"empty X-Ops-Sign", set("X-Ops-Sign", ""), result{400, "missing required authentication header(s) 'X-Ops-Sign'", false}},
		{"X-Ops-Sign version=8.1", set("X-Ops-Sign", "version=8.1"), result{400, "Unsupported authentication protocol version", false}},
		{"X-Ops-Sign bad algorithm", set("X-Ops-Sign", "algorithm=md5;version=1.1"), result{400, "Unsupported authentication protocol version", false}},
		{"X-Ops-Sign 1.3 with sha1", set("X-Ops-Sign", "algorithm=sha1;version=1.3"), result{400, "Unsupported authentication protocol version", false}},
		{"X-Ops-Sign trailing semicolon", set("X-Ops-Sign", "algorithm=sha1;version=1.1;"), result{valid: true}},
		{"unknown user (other key)", set("X-Ops-UserId", "invalid"), result{valid: false}},
		{"missing user id", del("X-Ops-UserId"), result{400, "missing required authentication header(s) 'X-Ops-UserId'", false}},
		{"missing timestamp", del("X-Ops-Timestamp"), result{400, "missing required authentication header(s) 'X-Ops-Timestamp'", false}},
		{"empty timestamp", set("X-Ops-Timestamp", ""), result{400, "missing required authentication header(s) 'X-Ops-Timestamp'", false}},
		{"timestamp xxx", set("X-Ops-Timestamp", "xxx"), result{401, "bad header(s) 'X-Ops-Timestamp'", false}},
		{"timestamp +1h", set("X-Ops-Timestamp", now.Add(time.Hour).UTC().Format(TimestampLayout)), result{401, "Failed to authenticate as pedant_admin_user. Synchronize the clock on your host.", false}},
		{"timestamp -1h", set("X-Ops-Timestamp", now.Add(-time.Hour).UTC().Format(TimestampLayout)), result{401, "Failed to authenticate as pedant_admin_user. Synchronize the clock on your host.", false}},
		{"timestamp altered by 30 s after signing", set("X-Ops-Timestamp", now.Add(-30*time.Second).UTC().Format(TimestampLayout)), result{valid: false}},
		{"missing content hash", del("X-Ops-Content-Hash"), result{400, "missing required authentication header(s) 'X-Ops-Content-Hash'", false}},
		{"empty content hash", set("X-Ops-Content-Hash", ""), result{400, "missing required authentication header(s) 'X-Ops-Content-Hash'", false}},
		{"malformed content hash", set("X-Ops-Content-Hash", "xyz"), result{valid: false}},
		{"mismatched content hash", set("X-Ops-Content-Hash", b64(sha1Sum([]byte("other")))), result{valid: false}},
		{"all missing", func(h http.Header) (string, string, []byte) {
			for _, n := range requiredHeaders {
				h.Del(n)
			}
			return "POST", testPath, testBody
		}, result{400, "missing required authentication header(s) 'X-Ops-UserId', 'X-Ops-Timestamp', 'X-Ops-Sign', 'X-Ops-Content-Hash'", false}},
		{"missing authorization headers", func(h http.Header) (string, string, []byte) {
			for i := 1; i < 20; i++ {
				h.Del("X-Ops-Authorization-" + itoa(i))
			}
			return "POST", testPath, testBody
		}, result{valid: false}},
		{"malformed authorization", set("X-Ops-Authorization-1", "!!!!"), result{valid: false}},
		{"empty authorization", set("X-Ops-Authorization-1", ""), result{valid: false}},
		{"authorization without line 1", del("X-Ops-Authorization-1"), result{valid: false}},
		{"authorization without a middle line", del("X-Ops-Authorization-3"), result{valid: false}},
		{"authorization without the last line", del("X-Ops-Authorization-6"), result{valid: false}},
		{"signature over another method", method("GET"), result{valid: false}},
		{"signature over another path", path("/organizations/pushlab/pushy/node_states"), result{valid: false}},
		{"signature over an empty body", body(nil), result{valid: false}},
		{"signature over garbage", body([]byte("garbage")), result{valid: false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := signed(t, "1.1", now)
			m, p, b := "POST", testPath, testBody
			if c.mutate != nil {
				m, p, b = c.mutate(h)
			}
			parsed, err := ParseHeaders(h, now)
			if c.want.status != 0 {
				var ae *Error
				if !errors.As(err, &ae) {
					t.Fatalf("ParseHeaders = %v, want *Error %d", err, c.want.status)
				}
				if ae.Status != c.want.status || ae.Message != c.want.msg {
					t.Fatalf("got %d %q, want %d %q", ae.Status, ae.Message, c.want.status, c.want.msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseHeaders: %v", err)
			}
			got := parsed.Verify(m, p, b, []*rsa.PublicKey{&k.PublicKey})
			if got != c.want.valid {
				t.Fatalf("Verify = %v, want %v", got, c.want.valid)
			}
			if parsed.Verify(m, p, b, []*rsa.PublicKey{&other.PublicKey}) {
				t.Fatal("verified with a key that did not sign")
			}
		})
	}
}

// TestSkewBoundary: -30 s passes, 899 s passes, 900 s fails (chef_authn: |Δ| < skew).
func TestSkewBoundary(t *testing.T) {
	k, _ := keys(t)
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		offset time.Duration
		ok     bool
	}{{-30 * time.Second, true}, {899 * time.Second, true}, {-899 * time.Second, true}, {900 * time.Second, false}, {-900 * time.Second, false}} {
		s := &Signer{UserID: "u", Key: k, Now: func() time.Time { return base.Add(c.offset) }}
		h, _ := s.Headers("GET", "/x", nil)
		_, err := ParseHeaders(h, base)
		if (err == nil) != c.ok {
			t.Errorf("offset %s: err %v, want ok=%v", c.offset, err, c.ok)
		}
	}
}

// TestGoChefSigner verifies requests signed by an independent implementation, github.com/go-chef/chef.
func TestGoChefSigner(t *testing.T) {
	k, _ := keys(t)
	for _, v := range []string{gochef.AuthVersion10, gochef.AuthVersion13} {
		t.Run(v, func(t *testing.T) {
			req, _ := http.NewRequest("POST", "http://127.0.0.1:10003"+testPath, bytes.NewReader(testBody))
			if v == gochef.AuthVersion13 {
				sum := sha256.Sum256(testBody)
				req.Header.Set("X-Ops-Content-Hash", base64.StdEncoding.EncodeToString(sum[:]))
			} else {
				sum := sha1.Sum(testBody)
				req.Header.Set("X-Ops-Content-Hash", base64.StdEncoding.EncodeToString(sum[:]))
			}
			ac := gochef.AuthConfig{PrivateKey: k, ClientName: "gochef", AuthenticationVersion: v}
			if err := ac.SignRequest(req); err != nil {
				t.Fatal(err)
			}
			if v == gochef.AuthVersion13 && req.Header.Get("X-Ops-Sign") != "version=1.3" {
				t.Fatalf("go-chef sent X-Ops-Sign %q; this test expects the algorithm-less form", req.Header.Get("X-Ops-Sign"))
			}
			p, err := ParseHeaders(req.Header, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if !p.Verify("POST", testPath, testBody, []*rsa.PublicKey{&k.PublicKey}) {
				t.Fatal("go-chef signature rejected")
			}
			if p.Verify("POST", testPath, []byte("{}"), []*rsa.PublicKey{&k.PublicKey}) {
				t.Fatal("go-chef signature accepted for another body")
			}
		})
	}
}

// TestFixedVectors checks signatures made by openssl rsautl (raw PKCS#1 type-1 padding, no digest) over
// the canonical strings in testdata, in both directions.
func TestFixedVectors(t *testing.T) {
	pemKey, err := os.ReadFile("testdata/key.pem")
	if err != nil {
		t.Fatal(err)
	}
	key, err := ParsePrivateKeyPEM(pemKey)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	for _, line := range strings.Split(strings.TrimSpace(readFile(t, "testdata/v11.headers")), "\n") {
		name, value, _ := strings.Cut(line, ": ")
		h.Set(name, value)
	}
	ts, _ := time.Parse(TimestampLayout, h.Get("X-Ops-Timestamp"))
	p, err := ParseHeaders(h, ts)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Verify("GET", "/organizations/pushlab/pushy/node_states", nil, []*rsa.PublicKey{&key.PublicKey}) {
		t.Fatal("openssl-made 1.1 signature rejected")
	}
	// Reverse direction: our signature is what openssl makes (type-1 padding is deterministic).
	s := &Signer{UserID: "admin", Key: key, Version: "1.1", Now: func() time.Time { return ts }}
	ours, _ := s.Headers("GET", "/organizations/pushlab/pushy/node_states", nil)
	for i := 1; i <= 6; i++ {
		n := "X-Ops-Authorization-" + itoa(i)
		if ours.Get(n) != h.Get(n) {
			t.Fatalf("%s differs from the openssl vector:\n ours %q\n want %q", n, ours.Get(n), h.Get(n))
		}
	}
	if openssl, err := exec.LookPath("openssl"); err == nil {
		// And live: openssl signs a fresh canonical string, we verify it.
		canon := canonicalV1("POST", testPath, b64(sha1Sum(testBody)), "2026-01-01T00:00:00Z", "admin", "1.1")
		dir := t.TempDir()
		in := filepath.Join(dir, "in")
		os.WriteFile(in, []byte(canon), 0o600)
		out, err := exec.Command(openssl, "rsautl", "-sign", "-inkey", "testdata/key.pem", "-in", in).Output()
		if err != nil {
			t.Fatalf("openssl: %v", err)
		}
		p := &Parsed{UserID: "admin", Version: "1.1", RawTimestamp: "2026-01-01T00:00:00Z", ContentHash: b64(sha1Sum(testBody)), Signature: base64.StdEncoding.EncodeToString(out)}
		if !p.Verify("POST", testPath, testBody, []*rsa.PublicKey{&key.PublicKey}) {
			t.Fatal("live openssl signature rejected")
		}
	}
}

func TestKeysPEM(t *testing.T) {
	k, _ := keys(t)
	back, err := ParsePrivateKeyPEM(EncodePrivateKeyPEM(k))
	if err != nil || !back.Equal(k) {
		t.Fatalf("private key round trip: %v", err)
	}
	if !strings.HasPrefix(string(EncodePrivateKeyPEM(k)), "-----BEGIN RSA PRIVATE KEY-----") {
		t.Fatal("private keys must be PKCS#1")
	}
	pub, err := ParsePublicKeyPEM(EncodePublicKeyPEM(&k.PublicKey))
	if err != nil || !pub.Equal(&k.PublicKey) {
		t.Fatalf("public key round trip: %v", err)
	}
	if _, err := ParsePublicKeyPEM([]byte("junk")); err == nil {
		t.Fatal("junk accepted as a public key")
	}
}

func TestCanonicalPath(t *testing.T) {
	for in, want := range map[string]string{"/": "/", "/a/b/": "/a/b", "//a///b": "/a/b", "/a?x=1": "/a", "": "/", "/a/": "/a"} {
		if got := CanonicalPath(in); got != want {
			t.Errorf("CanonicalPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseHeaders(f *testing.F) {
	f.Add("u", "2026-01-01T00:00:00Z", "algorithm=sha1;version=1.1", "hash", "sig")
	f.Add("", "xxx", "version=8.1", "", "")
	f.Fuzz(func(t *testing.T, user, ts, sign, hash, sig string) {
		h := http.Header{}
		h.Set("X-Ops-UserId", user)
		h.Set("X-Ops-Timestamp", ts)
		h.Set("X-Ops-Sign", sign)
		h.Set("X-Ops-Content-Hash", hash)
		h.Set("X-Ops-Authorization-1", sig)
		p, err := ParseHeaders(h, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		if err == nil {
			p.Verify("GET", "/", nil, nil)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	k, _ := keys(b)
	for _, v := range []string{"1.0", "1.1", "1.3"} {
		b.Run(v, func(b *testing.B) {
			now := time.Now()
			s := &Signer{UserID: "u", Key: k, Version: v, Now: func() time.Time { return now }}
			h, _ := s.Headers("POST", testPath, testBody)
			keys := []*rsa.PublicKey{&k.PublicKey}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p, err := ParseHeaders(h, now)
				if err != nil || !p.Verify("POST", testPath, testBody, keys) {
					b.Fatal("verify failed")
				}
			}
		})
	}
}

func del(name string) func(http.Header) (string, string, []byte) {
	return func(h http.Header) (string, string, []byte) { h.Del(name); return "POST", testPath, testBody }
}
func set(name, v string) func(http.Header) (string, string, []byte) {
	return func(h http.Header) (string, string, []byte) { h.Set(name, v); return "POST", testPath, testBody }
}
func method(m string) func(http.Header) (string, string, []byte) {
	return func(http.Header) (string, string, []byte) { return m, testPath, testBody }
}
func path(p string) func(http.Header) (string, string, []byte) {
	return func(http.Header) (string, string, []byte) { return "POST", p, testBody }
}
func body(b []byte) func(http.Header) (string, string, []byte) {
	return func(http.Header) (string, string, []byte) { return "POST", testPath, b }
}
func itoa(i int) string { return string(rune('0' + i)) }
func readFile(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
