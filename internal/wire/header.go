package wire

import (
	"bytes"
	"errors"
	"fmt"
)

// Limits and names of the framing layer (protocol.md §4.3).
const (
	// MaxHeaderSize is the largest header frame the server accepts; a larger one is dropped.
	MaxHeaderSize = 2048
	// DefaultMaxBodySize is the server's default max_body_size.
	DefaultMaxBodySize = 65536

	// HMACSHA256 signs every command-channel message, in both directions.
	HMACSHA256 = "hmac_sha256"
	// RSA2048SHA1 signs the server's PUB heartbeats.
	RSA2048SHA1 = "rsa2048_sha1"

	// Version1 and Version2 are the only protocol versions a header may carry.
	Version1 = "1.0"
	Version2 = "2.0"
)

// Errors returned by ParseHeader.
var (
	ErrHeaderTooLarge = errors.New("wire: header frame larger than 2048 bytes")
	ErrNoVersion      = errors.New("wire: header has no Version part")
	ErrBadVersion     = errors.New("wire: header Version is neither 1.0 nor 2.0")
)

// Header is a parsed header frame: `Version:2.0;SigningMethod:<method>;Signature:<base64>`.
type Header struct {
	Version   string // "1.0" or "2.0"
	Method    string // the SigningMethod value as sent; only HMACSHA256 and RSA2048SHA1 verify
	Signature string // the Signature (or SignedChecksum) value as sent, still base64
}

// ParseHeader parses a header frame the way the server does (pushy_messaging:parse_header):
// the frame is split on ';' and each part is matched by its prefix; later parts override
// earlier ones; unknown parts are ignored; "SignedChecksum:" is an alias of "Signature:".
// A header without a Version part, or whose last Version is not exactly 1.0 or 2.0, is an
// error, as is a frame longer than MaxHeaderSize.
func ParseHeader(b []byte) (Header, error) {
	if len(b) > MaxHeaderSize {
		return Header{}, fmt.Errorf("%w (%d bytes)", ErrHeaderTooLarge, len(b))
	}
	var h Header
	versionSeen, versionOK := false, false
	for part := range bytes.SplitSeq(b, []byte{';'}) {
		switch {
		case bytes.HasPrefix(part, []byte("Version:")):
			v := string(part[len("Version:"):])
			versionSeen = true
			versionOK = v == Version1 || v == Version2
			if versionOK {
				h.Version = v
			} else {
				h.Version = ""
			}
		case bytes.HasPrefix(part, []byte("SigningMethod:")):
			h.Method = string(part[len("SigningMethod:"):])
		case bytes.HasPrefix(part, []byte("Signature:")):
			h.Signature = string(part[len("Signature:"):])
		case bytes.HasPrefix(part, []byte("SignedChecksum:")):
			h.Signature = string(part[len("SignedChecksum:"):])
		}
	}
	switch {
	case !versionSeen:
		return Header{}, ErrNoVersion
	case !versionOK:
		return Header{}, ErrBadVersion
	}
	return h, nil
}

// Bytes renders the header frame in the order the real implementations write it.
func (h Header) Bytes() []byte {
	b := make([]byte, 0, len("Version:;SigningMethod:;Signature:")+len(h.Version)+len(h.Method)+len(h.Signature))
	b = append(b, "Version:"...)
	b = append(b, h.Version...)
	b = append(b, ";SigningMethod:"...)
	b = append(b, h.Method...)
	b = append(b, ";Signature:"...)
	b = append(b, h.Signature...)
	return b
}
