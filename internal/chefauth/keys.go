package chefauth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// KeyBits is the size of generated keys, as the Chef server's key generator uses.
const KeyBits = 2048

// GenerateKey makes a new RSA key of KeyBits bits.
func GenerateKey() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, KeyBits) }

// ParsePrivateKeyPEM reads a PKCS#1 ("RSA PRIVATE KEY") or PKCS#8 ("PRIVATE KEY") RSA key.
func ParsePrivateKeyPEM(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found in private key")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("private key is a %T, not RSA", k)
		}
		return rk, nil
	}
	return nil, fmt.Errorf("unsupported private key PEM type %q", block.Type)
}

// EncodePrivateKeyPEM writes a key as PKCS#1 "RSA PRIVATE KEY", the form Chef tooling expects.
func EncodePrivateKeyPEM(k *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

// ParsePublicKeyPEM reads an SPKI "PUBLIC KEY", a PKCS#1 "RSA PUBLIC KEY" or an X.509 certificate.
func ParsePublicKeyPEM(data []byte) (*rsa.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found in public key")
	}
	var pub any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		cert, err = x509.ParseCertificate(block.Bytes)
		if err == nil {
			pub = cert.PublicKey
		}
	default:
		return nil, fmt.Errorf("unsupported public key PEM type %q", block.Type)
	}
	if err != nil {
		return nil, err
	}
	rk, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("public key is a %T, not RSA", pub)
	}
	return rk, nil
}

// EncodePublicKeyPEM writes a key as SPKI "PUBLIC KEY".
func EncodePublicKeyPEM(k *rsa.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}
