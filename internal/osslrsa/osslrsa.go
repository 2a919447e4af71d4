package osslrsa

/*
#cgo pkg-config: libcrypto
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

static EVP_PKEY *pushlab_parse(const unsigned char *der, long len) {
	const unsigned char *p = der;
	return d2i_PrivateKey(EVP_PKEY_RSA, NULL, &p, len);
}

// pushlab_sign signs tbs with PKCS #1 v1.5 padding: over tbs itself when md is NULL (no
// DigestInfo, as Chef's signing 1.0 and 1.1 do), else over a DigestInfo of md. It returns the
// signature length, or 0.
static size_t pushlab_sign(EVP_PKEY *k, const EVP_MD *md, const unsigned char *tbs, size_t n, unsigned char *sig, size_t cap) {
	size_t out = cap;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
	if (ctx == NULL) return 0;
	if (EVP_PKEY_sign_init(ctx) <= 0 || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0 ||
	    (md != NULL && EVP_PKEY_CTX_set_signature_md(ctx, md) <= 0) ||
	    EVP_PKEY_sign(ctx, sig, &out, tbs, n) <= 0) {
		out = 0;
	}
	EVP_PKEY_CTX_free(ctx);
	return out;
}

// pushlab_decrypt undoes PKCS #1 v1.5 encryption; it returns the plaintext length, or -1.
static long pushlab_decrypt(EVP_PKEY *k, const unsigned char *in, size_t n, unsigned char *out, size_t cap) {
	size_t len = cap;
	long r = -1;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
	if (ctx == NULL) return -1;
	if (EVP_PKEY_decrypt_init(ctx) > 0 && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0 &&
	    EVP_PKEY_decrypt(ctx, out, &len, in, n) > 0) {
		r = (long)len;
	}
	EVP_PKEY_CTX_free(ctx);
	return r;
}
*/
import "C"

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"runtime"
	"unsafe"
)

// Key is an RSA private key held by libcrypto. It is a crypto.Signer and a crypto.Decrypter,
// safe for concurrent use.
type Key struct {
	pub  *rsa.PublicKey
	size int
	pkey *C.EVP_PKEY
}

// New hands a private key to libcrypto.
func New(k *rsa.PrivateKey) (*Key, error) {
	der := x509.MarshalPKCS1PrivateKey(k)
	p := C.pushlab_parse((*C.uchar)(unsafe.Pointer(unsafe.SliceData(der))), C.long(len(der)))
	if p == nil {
		return nil, errors.New("osslrsa: libcrypto refused the key")
	}
	key := &Key{pub: &k.PublicKey, size: k.Size(), pkey: p}
	runtime.AddCleanup(key, func(p *C.EVP_PKEY) { C.EVP_PKEY_free(p) }, p)
	return key, nil
}

// Public returns the public key.
func (k *Key) Public() crypto.PublicKey { return k.pub }

// Sign makes a PKCS #1 v1.5 signature, as rsa.SignPKCS1v15 does: with opts crypto.Hash(0),
// digest is signed as it is (no DigestInfo); otherwise digest is a hash of opts' kind.
// PSS options are refused.
func (k *Key) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if _, pss := opts.(*rsa.PSSOptions); pss {
		return nil, errors.New("osslrsa: PSS is not supported")
	}
	var md *C.EVP_MD
	switch h := opts.HashFunc(); h {
	case 0:
		if len(digest) > k.size-11 {
			return nil, rsa.ErrMessageTooLong
		}
	case crypto.SHA1:
		md = C.EVP_sha1()
	case crypto.SHA256:
		md = C.EVP_sha256()
	case crypto.SHA512:
		md = C.EVP_sha512()
	default:
		return nil, fmt.Errorf("osslrsa: hash %v is not supported", h)
	}
	if md != nil && len(digest) != opts.HashFunc().Size() {
		return nil, errors.New("osslrsa: input must be hashed message")
	}
	sig := make([]byte, k.size)
	n := C.pushlab_sign(k.pkey, md, bytesPtr(digest), C.size_t(len(digest)), bytesPtr(sig), C.size_t(len(sig)))
	runtime.KeepAlive(k)
	if n == 0 {
		return nil, errors.New("osslrsa: signing failed")
	}
	return sig[:n], nil
}

// Decrypt undoes PKCS #1 v1.5 encryption, as rsa.DecryptPKCS1v15 does. opts must be nil or
// *rsa.PKCS1v15DecryptOptions (SessionKeyLen is not supported).
func (k *Key) Decrypt(_ io.Reader, msg []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	switch o := opts.(type) {
	case nil:
	case *rsa.PKCS1v15DecryptOptions:
		if o.SessionKeyLen != 0 {
			return nil, errors.New("osslrsa: SessionKeyLen is not supported")
		}
	default:
		return nil, fmt.Errorf("osslrsa: decrypter options %T are not supported", opts)
	}
	if len(msg) != k.size {
		return nil, rsa.ErrDecryption
	}
	out := make([]byte, k.size)
	n := C.pushlab_decrypt(k.pkey, bytesPtr(msg), C.size_t(len(msg)), bytesPtr(out), C.size_t(len(out)))
	runtime.KeepAlive(k)
	if n < 0 {
		return nil, rsa.ErrDecryption
	}
	return out[:n], nil
}

func bytesPtr(b []byte) *C.uchar {
	if len(b) == 0 {
		return nil
	}
	return (*C.uchar)(unsafe.Pointer(unsafe.SliceData(b)))
}
