package wire

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fixtureSessionKey(t testing.TB) []byte {
	k, err := hex.DecodeString(strings.TrimSpace(string(readFixture(t, "session_key.hex"))))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func fixturePrivateKey(t testing.TB) *rsa.PrivateKey {
	blk, _ := pem.Decode(readFixture(t, "server_key.pem"))
	k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func fixturePublicKey(t testing.TB) *rsa.PublicKey {
	blk, _ := pem.Decode(readFixture(t, "server_pub.pem"))
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PublicKey)
}

// The python3-signed node heartbeat verifies, and SignHMAC reproduces its header byte for byte.
func TestHMACFixture(t *testing.T) {
	key := fixtureSessionKey(t)
	body := readFixture(t, "node_heartbeat.body")
	raw := readFixture(t, "node_heartbeat.header")
	h, err := ParseHeader(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !VerifyHMAC(key, h, body) {
		t.Fatal("independently signed heartbeat does not verify")
	}
	if got := SignHMAC(key, body); !bytes.Equal(got, raw) {
		t.Fatalf("SignHMAC = %q\nwant       %q", got, raw)
	}
	if len(h.Signature) != 44 {
		t.Fatalf("signature length %d, want 44", len(h.Signature))
	}
}

func TestVerifyHMACRejects(t *testing.T) {
	key := fixtureSessionKey(t)
	body := readFixture(t, "node_heartbeat.body")
	good, _ := ParseHeader(SignHMAC(key, body))
	otherKey := bytes.Repeat([]byte{1}, 32)
	flipped := append([]byte(nil), body...)
	flipped[10] ^= 1
	v1 := good
	v1.Version = Version1
	rsaMethod := good
	rsaMethod.Method = RSA2048SHA1
	trailing := good
	trailing.Signature += "\n"
	cases := map[string]struct {
		key  []byte
		h    Header
		body []byte
	}{
		"wrong key":        {otherKey, good, body},
		"changed body":     {key, good, flipped},
		"version 1.0":      {key, v1, body},
		"rsa method":       {key, rsaMethod, body},
		"trailing newline": {key, trailing, body},
		"empty signature":  {key, Header{Version: Version2, Method: HMACSHA256}, body},
		"truncated":        {key, Header{Version: Version2, Method: HMACSHA256, Signature: good.Signature[:43]}, body},
	}
	if !VerifyHMAC(key, good, body) {
		t.Fatal("control case does not verify")
	}
	for name, c := range cases {
		if VerifyHMAC(c.key, c.h, c.body) {
			t.Errorf("%s: verified", name)
		}
	}
}

// The openssl-signed server heartbeat verifies, in one-line and in Ruby's 60-column form.
func TestRSAFixture(t *testing.T) {
	pub := fixturePublicKey(t)
	body := readFixture(t, "server_heartbeat.body")
	if got, want := SHA1Checksum(body), string(readFixture(t, "server_heartbeat.sha1b64")); got != want {
		t.Fatalf("SHA1Checksum = %q, python says %q", got, want)
	}
	for _, name := range []string{"server_heartbeat.header", "server_heartbeat_ruby.header"} {
		h, err := ParseHeader(readFixture(t, name))
		if err != nil {
			t.Fatal(name, err)
		}
		if !VerifyRSA(pub, h, body) {
			t.Errorf("%s does not verify", name)
		}
		if VerifyRSA(pub, h, append(body[:len(body):len(body)], ' ')) {
			t.Errorf("%s verifies a changed body", name)
		}
	}
	// PKCS#1 v1.5 type 1 is deterministic: our signature equals openssl's byte for byte.
	got, err := SignRSA(fixturePrivateKey(t), body)
	if err != nil {
		t.Fatal(err)
	}
	if want := readFixture(t, "server_heartbeat.header"); !bytes.Equal(got, want) {
		t.Fatalf("SignRSA differs from openssl:\n%s\n%s", got, want)
	}
}

func TestVerifyRSARejects(t *testing.T) {
	pub := fixturePublicKey(t)
	body := readFixture(t, "server_heartbeat.body")
	good, _ := ParseHeader(readFixture(t, "server_heartbeat.header"))
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	hmacMethod := good
	hmacMethod.Method = HMACSHA256
	v1 := good
	v1.Version = Version1
	notB64 := good
	notB64.Signature = "!!!" + good.Signature[3:]
	if !VerifyRSA(pub, v1, body) {
		t.Error("version 1.0 rsa header must verify")
	}
	if VerifyRSA(&other.PublicKey, good, body) {
		t.Error("verified under another key")
	}
	if VerifyRSA(pub, hmacMethod, body) {
		t.Error("verified with method hmac_sha256")
	}
	if VerifyRSA(pub, notB64, body) {
		t.Error("verified a non-base64 signature")
	}
	if VerifyRSA(nil, good, body) {
		t.Error("verified with a nil key")
	}
}

// Reverse direction: openssl recovers our signature's payload as the 28-character checksum.
func TestRSASignedByGoRecoveredByOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	body := []byte(`{"server":"s","type":"heartbeat","incarnation_id":"i","sequence":0,"timestamp":"Mon, 23 Nov 2026 08:00:00 GMT"}`)
	raw, err := SignRSA(fixturePrivateKey(t), body)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := ParseHeader(raw)
	sig, _ := base64.StdEncoding.DecodeString(h.Signature)
	dir := t.TempDir()
	sigPath := filepath.Join(dir, "sig")
	if err := os.WriteFile(sigPath, sig, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("openssl", "pkeyutl", "-verifyrecover", "-pubin", "-inkey",
		filepath.Join("testdata", "server_pub.pem"), "-pkeyopt", "rsa_padding_mode:pkcs1", "-in", sigPath).Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != SHA1Checksum(body) {
		t.Fatalf("openssl recovered %q, want %q", out, SHA1Checksum(body))
	}
}

func TestEncodeHMACRoundTrip(t *testing.T) {
	key := fixtureSessionKey(t)
	c := NewCommit("job-1", "srv", "chef-client")
	hdr, body, err := EncodeHMAC(key, c.WithStamp(3, "Mon, 23 Nov 2026 08:00:00 GMT"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseHeader(hdr)
	if err != nil || !VerifyHMAC(key, h, body) {
		t.Fatalf("does not verify: %v", err)
	}
	if !bytes.Contains(body, []byte(`"capture":false`)) || !bytes.Contains(body, []byte(`"sequence":3`)) {
		t.Fatalf("body %s lacks capture:false or sequence", body)
	}
	if _, _, err := EncodeHMAC(key, make(chan int)); err == nil {
		t.Fatal("encoding a channel must fail")
	}
}

func BenchmarkSignHMAC(b *testing.B) {
	key := fixtureSessionKey(b)
	body := readFixture(b, "node_heartbeat.body")
	for b.Loop() {
		SignHMAC(key, body)
	}
}

func BenchmarkVerifyHMAC(b *testing.B) {
	key := fixtureSessionKey(b)
	body := readFixture(b, "node_heartbeat.body")
	h, _ := ParseHeader(readFixture(b, "node_heartbeat.header"))
	for b.Loop() {
		if !VerifyHMAC(key, h, body) {
			b.Fatal("no")
		}
	}
}

func BenchmarkVerifyRSA(b *testing.B) {
	pub := fixturePublicKey(b)
	body := readFixture(b, "server_heartbeat.body")
	h, _ := ParseHeader(readFixture(b, "server_heartbeat.header"))
	for b.Loop() {
		if !VerifyRSA(pub, h, body) {
			b.Fatal("no")
		}
	}
}
