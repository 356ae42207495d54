package app

import (
	"crypto/tls"
	"time"

	"github.com/keep-dev/keep/internal/server"
)

// withTLS makes the main listener ls[0] serve HTTPS when the configuration
// asks for it, and adds the redirect listener. The certificate is loaded
// (or, with --dev-tls, made) once per Serve: a renewed certificate file is
// picked up by a restart.
func (k *Keep) withTLS(ls []server.Listener) ([]server.Listener, error) {
	if !k.cfg.TLS() {
		return ls, nil
	}
	cert, err := k.certificate()
	if err != nil {
		return nil, err
	}
	ls[0].TLS = server.TLSConfig(cert)
	if k.cfg.HTTPRedirect != "" {
		ls = append(ls, server.Listener{Name: "redirect", Addr: k.cfg.HTTPRedirect, RedirectTo: ls[0].Name})
	}
	return ls, nil
}

// certificate loads --tls-cert/--tls-key or makes the development
// certificate, and logs what it serves (never the key). The development
// certificate and its key live in memory only: nothing to protect on disk,
// and a new one (with a new fingerprint) at every start.
func (k *Keep) certificate() (tls.Certificate, error) {
	log := k.log.With("component", "tls")
	if k.cfg.DevTLS {
		cert, err := server.DevCertificate(time.Now())
		if err != nil {
			return cert, err
		}
		log.Warn("serving a self-signed development certificate: not for production",
			"fingerprint_sha256", server.Fingerprint(cert.Certificate[0]),
			"dns_names", cert.Leaf.DNSNames, "ip_addresses", cert.Leaf.IPAddresses, "not_after", cert.Leaf.NotAfter)
		return cert, nil
	}
	cert, err := server.LoadCertificate(k.cfg.TLSCert, k.cfg.TLSKey)
	if err != nil {
		return cert, err
	}
	log.Info("serving TLS certificate", "file", k.cfg.TLSCert,
		"fingerprint_sha256", server.Fingerprint(cert.Certificate[0]),
		"subject", cert.Leaf.Subject.String(), "dns_names", cert.Leaf.DNSNames, "not_after", cert.Leaf.NotAfter)
	if time.Now().After(cert.Leaf.NotAfter) {
		log.Warn("the TLS certificate has expired", "not_after", cert.Leaf.NotAfter)
	}
	return cert, nil
}
