package wechatsandbox

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/amigo-metering/amigo/internal/payment/wechatpay"
)

// Key files in a sandbox key directory. The station needs the merchant's
// key, the platform's public key and the API v3 key; the sandbox needs the
// platform's private key and the merchant's (public) key.
const (
	MerchantKeyFile       = "merchant_key.pem"    // merchant's RSA private key (PKCS #8), signs requests
	PlatformKeyFile       = "platform_key.pem"    // the sandbox platform's RSA private key, signs answers and notifications
	PlatformPublicKeyFile = "platform_public.pem" // its public key, what the station verifies with
	APIv3KeyFile          = "apiv3.key"           // 32 letters and digits, encrypts notifications
)

// Keys are the sandbox's keys, and the merchant's.
type Keys struct {
	Merchant       *rsa.PrivateKey
	MerchantSerial string
	Platform       *rsa.PrivateKey
	PlatformSerial string
	APIv3Key       []byte
}

// GenerateKeys makes a fresh set in memory (tests).
func GenerateKeys() (Keys, error) {
	m, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return Keys{}, err
	}
	p, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return Keys{}, err
	}
	return Keys{Merchant: m, MerchantSerial: wechatpay.Serial(&m.PublicKey), Platform: p, PlatformSerial: wechatpay.Serial(&p.PublicKey),
		APIv3Key: []byte(wechatpay.RandomString(wechatpay.APIv3KeySize))}, nil
}

// LoadKeys reads the key files in dir. With create, a missing file is made
// (mode 0600; the directory 0700 if missing); a file that is there is
// never replaced: one that does not parse is an error naming it.
// Serials are derived from the public keys (wechatpay.Serial).
func LoadKeys(dir string, create bool) (Keys, error) {
	if create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return Keys{}, fmt.Errorf("payment key directory: %w / 无法创建支付密钥目录", err)
		}
	}
	var k Keys
	var err error
	if k.Merchant, err = rsaFile(filepath.Join(dir, MerchantKeyFile), create); err != nil {
		return k, err
	}
	if k.Platform, err = rsaFile(filepath.Join(dir, PlatformKeyFile), create); err != nil {
		return k, err
	}
	k.MerchantSerial, k.PlatformSerial = wechatpay.Serial(&k.Merchant.PublicKey), wechatpay.Serial(&k.Platform.PublicKey)
	der, err := x509.MarshalPKIXPublicKey(&k.Platform.PublicKey)
	if err != nil {
		return k, err
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	pubPath := filepath.Join(dir, PlatformPublicKeyFile)
	switch b, err := os.ReadFile(pubPath); {
	case err == nil:
		if string(b) != string(pubPEM) {
			return k, fmt.Errorf("%s does not hold the public key of %s; it was left as it is / 平台公钥文件与平台私钥不符，文件未改动", pubPath, PlatformKeyFile)
		}
	case errors.Is(err, fs.ErrNotExist) && create:
		if err := writeNew(pubPath, pubPEM); err != nil {
			return k, err
		}
	case create:
		return k, fmt.Errorf("%s: %w", pubPath, err)
	}
	if k.APIv3Key, err = APIv3KeyFromFile(filepath.Join(dir, APIv3KeyFile), create); err != nil {
		return k, err
	}
	return k, nil
}

// APIv3KeyFromFile reads a 32-byte API v3 key (surrounding white space
// ignored); with create a missing file is made.
func APIv3KeyFromFile(path string, create bool) ([]byte, error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && create:
		k := []byte(wechatpay.RandomString(wechatpay.APIv3KeySize))
		return k, writeNew(path, append(append([]byte(nil), k...), '\n'))
	case err != nil:
		return nil, fmt.Errorf("API v3 key: %w / 无法读取APIv3密钥", err)
	}
	k := []byte(strings.TrimSpace(string(b)))
	if len(k) != wechatpay.APIv3KeySize {
		return nil, fmt.Errorf("API v3 key %s holds %d bytes, want %d; it was left as it is / APIv3密钥应为%d字节，文件未改动", path, len(k), wechatpay.APIv3KeySize, wechatpay.APIv3KeySize)
	}
	return k, nil
}

func rsaFile(path string, create bool) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && create:
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, err
		}
		return k, writeNew(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	case err != nil:
		return nil, fmt.Errorf("payment key: %w / 无法读取支付密钥", err)
	}
	k, err := wechatpay.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %v; it was left as it is / 密钥文件无法解析，文件未改动", path, err)
	}
	return k, nil
}

// writeNew creates path (0600) with b; an existing file is an error, never
// replaced.
func writeNew(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("payment key: %w / 无法创建密钥文件", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("payment key %s: %w / 无法写入密钥文件", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("payment key %s: %w / 无法写入密钥文件", path, err)
	}
	return f.Close()
}
