package wire

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// HMACSignature is base64(HMAC-SHA256(key, body)): 44 characters, standard padded base64.
func HMACSignature(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	var sum [sha256.Size]byte
	return base64.StdEncoding.EncodeToString(m.Sum(sum[:0]))
}

// SignHMAC returns the Version 2.0 hmac_sha256 header frame for body.
func SignHMAC(key, body []byte) []byte {
	return Header{Version: Version2, Method: HMACSHA256, Signature: HMACSignature(key, body)}.Bytes()
}

// VerifyHMAC reports whether h is a valid hmac_sha256 signature of body under key. Like the
// server it compares the base64 strings in constant time and accepts only Version 2.0.
func VerifyHMAC(key []byte, h Header, body []byte) bool {
	if h.Version != Version2 || h.Method != HMACSHA256 {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(h.Signature), []byte(HMACSignature(key, body))) == 1
}

// SHA1Checksum is the payload rsa2048_sha1 signs: the 28-character base64 of SHA1(body).
func SHA1Checksum(body []byte) string {
	sum := sha1.Sum(body)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// SignRSA returns the Version 2.0 rsa2048_sha1 header frame for body: the SHA1Checksum string,
// private-encrypted with PKCS#1 v1.5 type 1 padding and no DigestInfo, then base64 (one line).
func SignRSA(priv *rsa.PrivateKey, body []byte) ([]byte, error) {
	sig, err := rsa.SignPKCS1v15(rand.Reader, priv, crypto.Hash(0), []byte(SHA1Checksum(body)))
	if err != nil {
		return nil, fmt.Errorf("wire: rsa2048_sha1 sign: %w", err)
	}
	return Header{Version: Version2, Method: RSA2048SHA1, Signature: base64.StdEncoding.EncodeToString(sig)}.Bytes(), nil
}

// VerifyRSA reports whether h is a valid rsa2048_sha1 signature of body under pub (Version
// 1.0 or 2.0). Whitespace inside the base64 is ignored, as Ruby's Base64.encode64 breaks its
// output into 60-character lines.
func VerifyRSA(pub *rsa.PublicKey, h Header, body []byte) bool {
	if pub == nil || h.Method != RSA2048SHA1 || (h.Version != Version1 && h.Version != Version2) {
		return false
	}
	sig, err := decodeBase64Loose(h.Signature)
	if err != nil {
		return false
	}
	return rsa.VerifyPKCS1v15(pub, crypto.Hash(0), []byte(SHA1Checksum(body)), sig) == nil
}

// decodeBase64Loose decodes standard base64 after dropping ASCII whitespace.
func decodeBase64Loose(s string) ([]byte, error) {
	clean := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\r', '\n':
		default:
			clean = append(clean, s[i])
		}
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
	n, err := base64.StdEncoding.Decode(out, clean)
	return out[:n], err
}

// EncodeHMAC marshals msg to JSON and signs it with hmac_sha256.
func EncodeHMAC(key []byte, msg any) (header, body []byte, err error) {
	body, err = json.Marshal(msg)
	if err != nil {
		return nil, nil, fmt.Errorf("wire: encode %T: %w", msg, err)
	}
	return SignHMAC(key, body), body, nil
}

// EncodeRSA marshals msg to JSON and signs it with rsa2048_sha1.
func EncodeRSA(priv *rsa.PrivateKey, msg any) (header, body []byte, err error) {
	body, err = json.Marshal(msg)
	if err != nil {
		return nil, nil, fmt.Errorf("wire: encode %T: %w", msg, err)
	}
	header, err = SignRSA(priv, body)
	if err != nil {
		return nil, nil, err
	}
	return header, body, nil
}
