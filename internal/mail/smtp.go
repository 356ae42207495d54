package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"strconv"
	"time"
)

// smtpTimeout bounds one delivery: connect, TLS, auth and DATA. It must stay
// well below the claim lease so that a message is not claimed again while it
// is still being sent.
const smtpTimeout = time.Minute

// smtpSender delivers through an SMTP server with net/smtp.
type smtpSender struct {
	host     string
	port     int
	tlsMode  string // "starttls", "tls" or "none"
	username string
	password string
	tls      *tls.Config // nil means verify the server as host; tests set roots
}

func newSMTPSender(cfg Config) (*smtpSender, error) {
	if cfg.Host == "" {
		return nil, errors.New("mail: smtp needs a host")
	}
	port := cfg.Port
	if port == 0 {
		port = 587
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("mail: smtp port %d out of range", port)
	}
	mode := cfg.TLS
	if mode == "" {
		mode = "starttls"
	}
	switch mode {
	case "starttls", "tls", "none":
	default:
		return nil, fmt.Errorf("mail: smtp tls must be starttls, tls or none, not %q", mode)
	}
	if mode == "none" && cfg.Username != "" && !isLocalhost(cfg.Host) {
		// PLAIN sends the password as it is: only over TLS, or to this host.
		return nil, errors.New("mail: refusing smtp authentication without TLS to a host other than localhost")
	}
	if err := checkHeader("smtp host", cfg.Host); err != nil {
		return nil, err
	}
	return &smtpSender{host: cfg.Host, port: port, tlsMode: mode, username: cfg.Username, password: cfg.Password}, nil
}

func isLocalhost(h string) bool { return h == "localhost" || h == "127.0.0.1" || h == "::1" }

func (s *smtpSender) tlsConfig() *tls.Config {
	if s.tls != nil {
		c := s.tls.Clone()
		if c.ServerName == "" {
			c.ServerName = s.host
		}
		return c
	}
	return &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
}

func (s *smtpSender) deliver(ctx context.Context, from string, m message, raw []byte) (err error) {
	ctx, cancel := context.WithTimeout(ctx, smtpTimeout)
	defer cancel()
	addr := net.JoinHostPort(s.host, strconv.Itoa(s.port))
	d := &net.Dialer{Timeout: 15 * time.Second}
	var conn net.Conn
	if s.tlsMode == "tls" {
		conn, err = (&tls.Dialer{NetDialer: d, Config: s.tlsConfig()}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return fmt.Errorf("smtp connect: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// Closing the connection when ctx ends unblocks a stalled exchange.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp greeting: %w", err)
	}
	defer c.Close()
	if s.tlsMode == "starttls" {
		// Never fall back to plain text when STARTTLS was asked for.
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("smtp: server does not offer STARTTLS")
		}
		if err := c.StartTLS(s.tlsConfig()); err != nil {
			return fmt.Errorf("smtp starttls: %w", err)
		}
	}
	if s.username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("smtp: server does not offer AUTH")
		}
		// smtp.PlainAuth itself refuses to send credentials over a
		// connection without TLS unless the host is localhost.
		if err := c.Auth(smtp.PlainAuth("", s.username, s.password, s.host)); err != nil {
			return fmt.Errorf("smtp auth: %w", err)
		}
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("smtp mail from: %w", err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return fmt.Errorf("smtp rcpt to: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	if _, err := w.Write(raw); err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	// The message was accepted at the end of DATA; a failed QUIT does not
	// make it undelivered.
	_ = c.Quit()
	return nil
}
