package broker

import (
	"errors"
	"strings"
)

// z85Alphabet is the ZeroMQ RFC 32 (Z85) alphabet.
const z85Alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"

var errBadZ85 = errors.New("not a 40-character Z85 CURVE key")

// decodeZ85Key decodes a 40-character Z85 CURVE key to its 32 raw bytes. libzmq's decoder (and
// pebbe/zmq4's wrapper) does not report bad characters, so keys are checked here.
func decodeZ85Key(s string) ([32]byte, error) {
	var out [32]byte
	if len(s) != 40 {
		return out, errBadZ85
	}
	for i := 0; i < 8; i++ {
		var v uint64
		for j := 0; j < 5; j++ {
			d := strings.IndexByte(z85Alphabet, s[i*5+j])
			if d < 0 {
				return out, errBadZ85
			}
			v = v*85 + uint64(d)
		}
		if v > 0xFFFFFFFF {
			return out, errBadZ85
		}
		out[i*4] = byte(v >> 24)
		out[i*4+1] = byte(v >> 16)
		out[i*4+2] = byte(v >> 8)
		out[i*4+3] = byte(v)
	}
	return out, nil
}
