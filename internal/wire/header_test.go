package wire

import (
	"errors"
	"strings"
	"testing"
)

func TestParseHeader(t *testing.T) {
	big := "Version:2.0;SigningMethod:hmac_sha256;Signature:" + strings.Repeat("A", MaxHeaderSize)
	atLimit := "Version:2.0;X:" + strings.Repeat("A", MaxHeaderSize-len("Version:2.0;X:"))
	tests := []struct {
		name string
		in   string
		want Header
		err  error
	}{
		{"canonical", "Version:2.0;SigningMethod:hmac_sha256;Signature:abc=",
			Header{Version: "2.0", Method: "hmac_sha256", Signature: "abc="}, nil},
		{"version 1.0", "Version:1.0;SigningMethod:rsa2048_sha1;Signature:x",
			Header{Version: "1.0", Method: "rsa2048_sha1", Signature: "x"}, nil},
		{"any order", "Signature:s;SigningMethod:rsa2048_sha1;Version:2.0",
			Header{Version: "2.0", Method: "rsa2048_sha1", Signature: "s"}, nil},
		{"SignedChecksum alias", "Version:2.0;SigningMethod:hmac_sha256;SignedChecksum:zz",
			Header{Version: "2.0", Method: "hmac_sha256", Signature: "zz"}, nil},
		{"later part overrides", "Version:2.0;Signature:a;SignedChecksum:b",
			Header{Version: "2.0", Signature: "b"}, nil},
		{"unknown parts ignored", "Foo:bar;Version:2.0;;junk;SigningMethod:hmac_sha256;Signature:q",
			Header{Version: "2.0", Method: "hmac_sha256", Signature: "q"}, nil},
		{"unknown method kept as sent", "Version:2.0;SigningMethod:md5;Signature:q",
			Header{Version: "2.0", Method: "md5", Signature: "q"}, nil},
		{"signature may contain colons", "Version:2.0;Signature:a:b",
			Header{Version: "2.0", Signature: "a:b"}, nil},
		{"version only", "Version:2.0", Header{Version: "2.0"}, nil},
		{"last version wins (bad then good)", "Version:3.0;Version:2.0", Header{Version: "2.0"}, nil},
		{"at the size limit", atLimit, Header{Version: "2.0"}, nil},
		{"no version", "SigningMethod:hmac_sha256;Signature:q", Header{}, ErrNoVersion},
		{"empty", "", Header{}, ErrNoVersion},
		{"version 3.0", "Version:3.0;SigningMethod:hmac_sha256;Signature:q", Header{}, ErrBadVersion},
		{"version 2", "Version:2;SigningMethod:hmac_sha256", Header{}, ErrBadVersion},
		{"version with space", "Version: 2.0", Header{}, ErrBadVersion},
		{"last version wins (good then bad)", "Version:2.0;Version:9", Header{}, ErrBadVersion},
		{"prefix is case sensitive", "version:2.0", Header{}, ErrNoVersion},
		{"too large", big, Header{}, ErrHeaderTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseHeader([]byte(tc.in))
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestHeaderBytesRoundTrip(t *testing.T) {
	h := Header{Version: "2.0", Method: HMACSHA256, Signature: "MogHEC2o0F5KqREECvT4iE3+OxhPULWogVl7k8nAb6E="}
	want := "Version:2.0;SigningMethod:hmac_sha256;Signature:MogHEC2o0F5KqREECvT4iE3+OxhPULWogVl7k8nAb6E="
	if got := string(h.Bytes()); got != want {
		t.Fatalf("Bytes() = %q, want %q", got, want)
	}
	back, err := ParseHeader(h.Bytes())
	if err != nil || back != h {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}

func FuzzParseHeader(f *testing.F) {
	for _, s := range []string{
		"Version:2.0;SigningMethod:hmac_sha256;Signature:abc=",
		"Version:1.0;SignedChecksum:x",
		";;;", "Version:", "Version:2.0;Version:3.0", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			if h != (Header{}) {
				t.Fatalf("error with non-zero header: %+v", h)
			}
			return
		}
		if len(b) > MaxHeaderSize {
			t.Fatalf("accepted %d bytes", len(b))
		}
		if h.Version != Version1 && h.Version != Version2 {
			t.Fatalf("accepted version %q", h.Version)
		}
		if len(h.Method)+len(h.Signature) > len(b) {
			t.Fatalf("parts longer than the input")
		}
	})
}
