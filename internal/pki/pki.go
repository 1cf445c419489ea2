// Package pki is the station's own certificate authority: it makes the CA,
// the station's server certificate and one client certificate per collector,
// and the TLS 1.3 configurations both ends use (mutual authentication; nothing
// between collector and station travels in clear).
//
// A collector certificate's CommonName is its terminal address "A1-A2"
// (e.g. "0171-2082"); the station checks it against the address the
// collector logs in with.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// File names inside a CA directory.
const (
	CACert = "ca.crt"
	CAKey  = "ca.key"
)

// InitCA creates a CA key and certificate in dir (valid 20 years). It refuses
// to overwrite an existing CA.
func InitCA(dir, name string) error {
	if _, err := os.Stat(filepath.Join(dir, CAKey)); err == nil {
		return fmt.Errorf("pki: a CA already exists in %s", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("pki: generate CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"amigo"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(20, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("pki: create CA certificate: %w", err)
	}
	return writePair(dir, "ca", der, key)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	return n
}

func writePair(dir, name string, der []byte, key *ecdsa.PrivateKey) error {
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("pki: marshal key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return fmt.Errorf("pki: write key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("pki: write certificate: %w", err)
	}
	return nil
}

func loadCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, CACert), filepath.Join(dir, CAKey))
	if err != nil {
		return nil, nil, fmt.Errorf("pki: load CA from %s (run `amigo ca init` first): %w", dir, err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, fmt.Errorf("pki: parse CA certificate: %w", err)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, errors.New("pki: CA key is not ECDSA")
	}
	return cert, key, nil
}

// issue signs a leaf certificate and writes name.crt / name.key in outDir.
func issue(caDir, outDir, name string, tmpl *x509.Certificate) error {
	ca, caKey, err := loadCA(caDir)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("pki: generate key: %w", err)
	}
	now := time.Now()
	tmpl.SerialNumber = serial()
	tmpl.NotBefore = now.Add(-time.Hour)
	tmpl.NotAfter = now.AddDate(10, 0, 0)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("pki: sign %s: %w", name, err)
	}
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	return writePair(outDir, name, der, key)
}

// CollectorName is the CommonName of a collector's certificate.
func CollectorName(a1 uint16, a2 uint16) string { return fmt.Sprintf("%04X-%d", a1, a2) }

// IssueCollector writes collector-A1-A2.crt/.key into outDir: a client
// certificate whose CommonName is the terminal address.
func IssueCollector(caDir, outDir string, a1, a2 uint16) (string, error) {
	cn := CollectorName(a1, a2)
	name := "collector-" + cn
	err := issue(caDir, outDir, name, &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, Organization: []string{"amigo collector"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return name, err
}

// IssueServer writes station.crt/.key into outDir for the given host names
// and IP addresses.
func IssueServer(caDir, outDir string, hosts ...string) error {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "amigo station", Organization: []string{"amigo"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return issue(caDir, outDir, "station", tmpl)
}

func pool(caFile string) (*x509.CertPool, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("pki: read CA: %w", err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("pki: %s holds no certificate", caFile)
	}
	return p, nil
}

// ServerConfig returns the station's TLS 1.3 configuration: it presents
// certFile and asks every client for a certificate signed by caFile. Clients
// without one are let through the handshake only when allowPlain decides it
// later (a third-party terminal marked plain-TCP uses another listener); here
// a certificate is required.
func ServerConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	p, err := pool(caFile)
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("pki: load server certificate: %w", err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientCAs:    p,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}, nil
}

// ClientConfig returns a collector's TLS 1.3 configuration.
func ClientConfig(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	p, err := pool(caFile)
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("pki: load client certificate: %w", err)
	}
	// The session cache keeps the station's ticket: a reconnection resumes
	// the session (tickets.go) instead of signing and verifying again.
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, RootCAs: p, ServerName: serverName,
		ClientSessionCache: tls.NewLRUClientSessionCache(4)}, nil
}

// PeerName returns the CommonName of the verified client certificate of a
// TLS connection state, or "" when there is none.
func PeerName(cs tls.ConnectionState) string {
	if len(cs.PeerCertificates) == 0 {
		return ""
	}
	return cs.PeerCertificates[0].Subject.CommonName
}
