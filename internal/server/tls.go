package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strings"
	"time"
)

// CipherSuites are the TLS 1.2 suites Keep accepts: forward-secret ECDHE
// key exchange with an AEAD (AES-GCM or ChaCha20-Poly1305) only. CBC, RSA key
// exchange and 3DES are left out. TLS 1.3 suites are not configurable in
// crypto/tls and are all AEADs.
var CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// TLSConfig is the server configuration of an HTTPS listener serving cert:
// TLS 1.2 at least, TLS 1.3 whenever the client offers it (crypto/tls always
// negotiates the highest common version), CipherSuites for TLS 1.2, and the
// standard library's default key exchange groups (post-quantum hybrid
// first). Each call returns a new value.
func TLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: CipherSuites,
		Certificates: []tls.Certificate{cert},
	}
}

// DevCertValidity is how long a certificate made by DevCertificate is valid.
// It is made again at every start, so a short life costs nothing.
const DevCertValidity = 7 * 24 * time.Hour

// DevCertificate makes a self-signed certificate for local development:
// an ECDSA P-256 key, valid from an hour before now (clock skew) for
// DevCertValidity, for localhost, 127.0.0.1 and ::1. The key exists only in
// the returned value.
func DevCertificate(now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "localhost", Organization: []string{"Keep development (self-signed)"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(DevCertValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// LoadCertificate reads a PEM certificate chain and its private key. The
// error never includes key material.
func LoadCertificate(certFile, keyFile string) (tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load TLS certificate %s: %w", certFile, err)
	}
	return cert, nil
}

// Fingerprint is the SHA-256 of a certificate's DER encoding in the
// colon-separated upper-case hex that browsers and openssl show.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}

// RedirectHandler answers every request with a permanent redirect (308, so
// a POST stays a POST) to the same path and query over HTTPS on port.
//
// The target host is the hostname of the request's Host header, never the
// header as is: its port is replaced by port, and a Host that is not a plain
// DNS name or IP address is refused with 400. The redirect therefore only
// ever points at the HTTPS port of the name the client already used, and
// cannot be steered to another port or to anything but a hostname.
func RedirectHandler(port string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := redirectHost(r.Host)
		if host == "" {
			http.Error(w, "bad Host header", http.StatusBadRequest)
			return
		}
		if port != "443" {
			host = net.JoinHostPort(host, port)
		} else if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		path := r.URL.EscapedPath()
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		target := "https://" + host + path
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		w.Header().Set("Location", target)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusPermanentRedirect)
	})
}

// redirectHost is the hostname part of a Host header, or "" when it is not
// a DNS name or an IP address.
func redirectHost(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	} else if strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]") {
		host = hostport[1 : len(hostport)-1]
	}
	if ip := net.ParseIP(host); ip != nil { // no zones: ParseIP refuses them
		return ip.String()
	}
	if len(host) == 0 || len(host) > 253 {
		return ""
	}
	for _, label := range strings.Split(strings.TrimSuffix(host, "."), ".") {
		if label == "" || len(label) > 63 {
			return ""
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return ""
			}
		}
	}
	return strings.ToLower(host)
}
