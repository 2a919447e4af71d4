package osslrsa

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"sync"
	"testing"
)

func testKey(t testing.TB) (*rsa.PrivateKey, *Key) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	o, err := New(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, o
}

// PKCS #1 v1.5 signatures are deterministic, so libcrypto's must equal crypto/rsa's byte for byte.
func TestSignMatchesCryptoRSA(t *testing.T) {
	k, o := testKey(t)
	raw := []byte("Method:GET\nHashed Path:abc\nX-Ops-Content-Hash:def\nX-Ops-Timestamp:2026-11-23T00:00:00Z\nX-Ops-UserId:node-1")
	s1 := sha1.Sum(raw)
	s256 := sha256.Sum256(raw)
	for _, c := range []struct {
		name string
		h    crypto.Hash
		in   []byte
	}{{"raw", 0, raw}, {"sha1", crypto.SHA1, s1[:]}, {"sha256", crypto.SHA256, s256[:]}} {
		t.Run(c.name, func(t *testing.T) {
			want, err := rsa.SignPKCS1v15(nil, k, c.h, c.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := o.Sign(nil, c.in, c.h)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("signature differs from crypto/rsa's")
			}
		})
	}
}

func TestSignRefuses(t *testing.T) {
	_, o := testKey(t)
	if _, err := o.Sign(nil, make([]byte, 246), crypto.Hash(0)); err == nil {
		t.Error("a raw input longer than the key allows was signed")
	}
	if _, err := o.Sign(nil, make([]byte, 5), crypto.SHA256); err == nil {
		t.Error("a SHA-256 digest of 5 bytes was signed")
	}
	if _, err := o.Sign(nil, make([]byte, 32), &rsa.PSSOptions{Hash: crypto.SHA256}); err == nil {
		t.Error("PSS was accepted")
	}
}

func TestDecrypt(t *testing.T) {
	k, o := testKey(t)
	msg := []byte("0123456789abcdef0123456789abcdef")
	c, err := rsa.EncryptPKCS1v15(rand.Reader, &k.PublicKey, msg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			got, err := o.Decrypt(nil, c, nil)
			if err != nil || !bytes.Equal(got, msg) {
				t.Errorf("Decrypt = %q, %v", got, err)
			}
		})
	}
	wg.Wait()
	c[10] ^= 1
	if got, err := o.Decrypt(nil, c, nil); err == nil && bytes.Equal(got, msg) {
		t.Error("a corrupted ciphertext decrypted to the message")
	}
	if _, err := o.Decrypt(nil, c[:10], nil); err == nil {
		t.Error("a short ciphertext was accepted")
	}
}

func BenchmarkSign(b *testing.B) {
	k, o := testKey(b)
	in := make([]byte, 100)
	b.Run("crypto-rsa", func(b *testing.B) {
		for b.Loop() {
			rsa.SignPKCS1v15(nil, k, crypto.Hash(0), in)
		}
	})
	b.Run("libcrypto", func(b *testing.B) {
		for b.Loop() {
			o.Sign(nil, in, crypto.Hash(0))
		}
	})
}

func BenchmarkDecrypt(b *testing.B) {
	k, o := testKey(b)
	c, _ := rsa.EncryptPKCS1v15(rand.Reader, &k.PublicKey, make([]byte, 32))
	b.Run("crypto-rsa", func(b *testing.B) {
		for b.Loop() {
			rsa.DecryptPKCS1v15(nil, k, c)
		}
	})
	b.Run("libcrypto", func(b *testing.B) {
		for b.Loop() {
			o.Decrypt(nil, c, nil)
		}
	})
}
