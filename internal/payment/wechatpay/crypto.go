// Package wechatpay speaks the merchant's side of WeChat Pay API v3 (微信支付
// APIv3) with the standard library: requests signed with the merchant's RSA
// key (Authorization: WECHATPAY2-SHA256-RSA2048), answers and notifications
// verified with the platform's public key (Wechatpay-Timestamp, -Nonce,
// -Serial, -Signature: RSA-SHA256, PKCS #1 v1.5, over
// "timestamp\nnonce\nbody\n"), and the notification's resource decrypted
// with the merchant's API v3 key (AEAD_AES_256_GCM). The same code speaks to
// the real provider and to the sandbox (internal/payment/wechatsandbox);
// only the base URL and the keys differ.
package wechatpay

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// Header names of a signed answer or notification.
const (
	HeaderTimestamp = "Wechatpay-Timestamp"
	HeaderNonce     = "Wechatpay-Nonce"
	HeaderSerial    = "Wechatpay-Serial"
	HeaderSignature = "Wechatpay-Signature"
)

// AuthScheme is the scheme of the merchant's Authorization header.
const AuthScheme = "WECHATPAY2-SHA256-RSA2048"

// APIv3KeySize is the length of the merchant's API v3 key (AES-256).
const APIv3KeySize = 32

// AlgorithmGCM is the only resource algorithm there is.
const AlgorithmGCM = "AEAD_AES_256_GCM"

// Message is what a signature of an answer or notification covers.
func Message(timestamp, nonce string, body []byte) []byte {
	b := make([]byte, 0, len(timestamp)+len(nonce)+len(body)+3)
	b = append(b, timestamp...)
	b = append(b, '\n')
	b = append(b, nonce...)
	b = append(b, '\n')
	b = append(b, body...)
	return append(b, '\n')
}

// RequestMessage is what the merchant's signature of a request covers:
// "METHOD\nURL-path-and-query\ntimestamp\nnonce\nbody\n".
func RequestMessage(method, pathQuery, timestamp, nonce string, body []byte) []byte {
	b := make([]byte, 0, len(method)+len(pathQuery)+len(timestamp)+len(nonce)+len(body)+5)
	b = append(b, method...)
	b = append(b, '\n')
	b = append(b, pathQuery...)
	b = append(b, '\n')
	return append(b, Message(timestamp, nonce, body)...)
}

// Sign returns the base64 RSA-SHA256 (PKCS #1 v1.5) signature of msg.
func Sign(key *rsa.PrivateKey, msg []byte) (string, error) {
	h := sha256.Sum256(msg)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, h[:])
	if err != nil {
		return "", fmt.Errorf("wechatpay: sign: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// ErrSignature is a signature that does not verify.
var ErrSignature = errors.New("wechatpay: signature does not verify")

// Verify checks a base64 signature of msg under pub.
func Verify(pub *rsa.PublicKey, msg []byte, signature string) error {
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil || len(sig) == 0 || len(sig) > 1024 {
		return ErrSignature
	}
	h := sha256.Sum256(msg)
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig) != nil {
		return ErrSignature
	}
	return nil
}

// Resource is the encrypted part of a notification.
type Resource struct {
	OriginalType   string `json:"original_type"`
	Algorithm      string `json:"algorithm"`
	Ciphertext     string `json:"ciphertext"`
	AssociatedData string `json:"associated_data"`
	Nonce          string `json:"nonce"`
}

// Encrypt seals plaintext under the API v3 key with a fresh 12-character
// nonce (as the provider does: the nonce and associated data are used as
// their bytes; the ciphertext carries the 16-byte tag at its end).
func Encrypt(key []byte, associatedData string, plaintext []byte) (Resource, error) {
	aead, err := gcm(key)
	if err != nil {
		return Resource{}, err
	}
	nonce := RandomString(12)
	ct := aead.Seal(nil, []byte(nonce), plaintext, []byte(associatedData))
	return Resource{OriginalType: "transaction", Algorithm: AlgorithmGCM, Ciphertext: base64.StdEncoding.EncodeToString(ct),
		AssociatedData: associatedData, Nonce: nonce}, nil
}

// maxCiphertext bounds a resource's ciphertext (base64 characters).
const maxCiphertext = 48 << 10

// Decrypt opens a resource under the API v3 key.
func Decrypt(key []byte, r Resource) ([]byte, error) {
	if r.Algorithm != AlgorithmGCM {
		return nil, fmt.Errorf("wechatpay: resource.algorithm %q: want %s", r.Algorithm, AlgorithmGCM)
	}
	if len(r.Nonce) != 12 {
		return nil, fmt.Errorf("wechatpay: resource.nonce: want 12 characters, got %d", len(r.Nonce))
	}
	if len(r.Ciphertext) > maxCiphertext {
		return nil, fmt.Errorf("wechatpay: resource.ciphertext longer than %d characters", maxCiphertext)
	}
	ct, err := base64.StdEncoding.DecodeString(r.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("wechatpay: resource.ciphertext: not base64")
	}
	aead, err := gcm(key)
	if err != nil {
		return nil, err
	}
	if len(ct) < aead.Overhead() {
		return nil, fmt.Errorf("wechatpay: resource.ciphertext: shorter than the tag")
	}
	pt, err := aead.Open(nil, []byte(r.Nonce), ct, []byte(r.AssociatedData))
	if err != nil {
		return nil, fmt.Errorf("wechatpay: resource.ciphertext: does not decrypt under the API v3 key")
	}
	return pt, nil
}

func gcm(key []byte) (cipher.AEAD, error) {
	if len(key) != APIv3KeySize {
		return nil, fmt.Errorf("wechatpay: API v3 key: want %d bytes, got %d", APIv3KeySize, len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("wechatpay: API v3 key: %w", err)
	}
	return cipher.NewGCM(b)
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// RandomString returns n random letters and digits (nonces, keys).
func RandomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b)
}

// ParsePrivateKey reads an RSA private key from PEM (PKCS #8 or PKCS #1).
func ParsePrivateKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	blk, _ := pem.Decode(pemBytes)
	if blk == nil {
		return nil, errors.New("wechatpay: private key: no PEM block")
	}
	if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("wechatpay: private key: not RSA")
		}
		return rk, nil
	}
	k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("wechatpay: private key: %w", err)
	}
	return k, nil
}

// ParsePublicKey reads an RSA public key from PEM: a PUBLIC KEY (the
// platform public key, 微信支付公钥) or a CERTIFICATE (a platform
// certificate, 平台证书).
func ParsePublicKey(pemBytes []byte) (*rsa.PublicKey, error) {
	blk, _ := pem.Decode(pemBytes)
	if blk == nil {
		return nil, errors.New("wechatpay: public key: no PEM block")
	}
	var k any
	var err error
	if blk.Type == "CERTIFICATE" {
		var c *x509.Certificate
		if c, err = x509.ParseCertificate(blk.Bytes); err == nil {
			k = c.PublicKey
		}
	} else {
		k, err = x509.ParsePKIXPublicKey(blk.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("wechatpay: public key: %w", err)
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("wechatpay: public key: not RSA")
	}
	return rk, nil
}

// Serial is the serial the sandbox gives a key: the first 20 bytes of the
// SHA-256 of its public key (PKIX DER), in upper-case hex. The real
// provider assigns its own (a certificate serial, or PUB_KEY_ID_…).
func Serial(pub *rsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	h := sha256.Sum256(der)
	return strings.ToUpper(hex.EncodeToString(h[:20]))
}
