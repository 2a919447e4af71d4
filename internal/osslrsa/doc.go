// Package osslrsa does RSA private-key operations (PKCS #1 v1.5 signatures and decryption)
// with OpenSSL's libcrypto, about twice as fast as crypto/rsa, for simulated fleets whose join
// rate is bound by them.
package osslrsa
