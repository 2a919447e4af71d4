// Package wire implements the Push Jobs node protocol frames: headers, hmac_sha256 and rsa2048_sha1 signatures, timestamps and the typed JSON messages.
package wire
