package mail

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// fakeSMTP is a minimal SMTP server on 127.0.0.1 for tests: EHLO, optional
// STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, QUIT.
type fakeSMTP struct {
	ln       net.Listener
	tls      *tls.Config // offers STARTTLS when set
	user     string
	password string

	mu       sync.Mutex
	failMail string // when set, the reply to MAIL FROM
	got      []received
	authSeen []string // decoded AUTH PLAIN responses
	sessions int
}

type received struct {
	from, to string
	data     string
	tls      bool
}

func newFakeSMTP(t *testing.T, tlsCfg *tls.Config) *fakeSMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeSMTP{ln: ln, tls: tlsCfg, user: "keep", password: "smtp-pass-xyzzy"}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *fakeSMTP) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *fakeSMTP) setFail(reply string) { s.mu.Lock(); s.failMail = reply; s.mu.Unlock() }

func (s *fakeSMTP) received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.got...)
}

func (s *fakeSMTP) serve(c net.Conn) {
	defer func() { c.Close() }()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	s.mu.Lock()
	s.sessions++
	s.mu.Unlock()
	r := bufio.NewReader(c)
	reply := func(line string) { _, _ = c.Write([]byte(line + "\r\n")) }
	reply("220 fake.test ESMTP")
	var (
		cur    received
		authed bool
		inTLS  bool
	)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch verb {
		case "EHLO", "HELO":
			ext := []string{"fake.test", "8BITMIME"}
			if s.tls != nil && !inTLS {
				ext = append(ext, "STARTTLS")
			}
			ext = append(ext, "AUTH PLAIN")
			for i, e := range ext {
				sep := "-"
				if i == len(ext)-1 {
					sep = " "
				}
				reply("250" + sep + e)
			}
		case "STARTTLS":
			if s.tls == nil || inTLS {
				reply("502 no")
				continue
			}
			reply("220 go ahead")
			tc := tls.Server(c, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, r, inTLS = tc, bufio.NewReader(tc), true
		case "AUTH":
			parts := strings.Fields(line)
			if len(parts) != 3 || parts[1] != "PLAIN" {
				reply("504 only PLAIN")
				continue
			}
			dec, _ := base64.StdEncoding.DecodeString(parts[2])
			s.mu.Lock()
			s.authSeen = append(s.authSeen, string(dec))
			s.mu.Unlock()
			if string(dec) == "\x00"+s.user+"\x00"+s.password {
				authed = true
				reply("235 ok")
			} else {
				reply("535 bad credentials")
			}
		case "MAIL":
			s.mu.Lock()
			fail := s.failMail
			s.mu.Unlock()
			if fail != "" {
				reply(fail)
				continue
			}
			if !authed {
				reply("530 authentication required")
				continue
			}
			cur = received{from: strings.TrimPrefix(line, "MAIL FROM:"), tls: inTLS}
			reply("250 ok")
		case "RCPT":
			cur.to = strings.TrimPrefix(line, "RCPT TO:")
			reply("250 ok")
		case "DATA":
			reply("354 go")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			cur.data = b.String()
			s.mu.Lock()
			s.got = append(s.got, cur)
			s.mu.Unlock()
			reply("250 queued")
		case "RSET", "NOOP":
			reply("250 ok")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("500 unknown")
		}
	}
}

func smtpOutbox(t *testing.T, db store.DB, srv *fakeSMTP, mode string, roots *x509.CertPool) *Outbox {
	t.Helper()
	o, err := New(db, Config{Mode: "smtp", Host: "127.0.0.1", Port: srv.port(), TLS: mode,
		Username: srv.user, Password: srv.password, From: "Keep <keep@example.com>"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if roots != nil {
		o.sink.(*smtpSender).tls = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	return o
}

func TestSMTPDelivery(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		db := open(t)
		srv := newFakeSMTP(t, nil)
		o := smtpOutbox(t, db, srv, "none", nil) // PLAIN without TLS: allowed to localhost only
		enqueue(t, o, db, "alice@example.com", "Reset your password", "token line\n.leading dot\n")
		deliver(t, o, 1)
		got := srv.received()
		if len(got) != 1 {
			t.Fatalf("server received %d messages", len(got))
		}
		if !strings.HasPrefix(got[0].from, "<keep@example.com>") || got[0].to != "<alice@example.com>" {
			t.Fatalf("envelope %q → %q", got[0].from, got[0].to)
		}
		msg, err := mail.ReadMessage(strings.NewReader(got[0].data))
		if err != nil {
			t.Fatal(err)
		}
		if msg.Header.Get("Subject") != "Reset your password" || msg.Header.Get("To") != "alice@example.com" {
			t.Fatalf("headers: %v", msg.Header)
		}
		if !strings.Contains(got[0].data, "\r\n.leading dot\r\n") {
			t.Fatalf("dot stuffing lost a line: %q", got[0].data)
		}
		if rs := outboxRows(t, db); len(rs) != 1 || !rs[0].sent || rs[0].body != "" {
			t.Fatalf("rows: %+v", rs)
		}
	})
}

func TestSMTPFailureRetriesWithBackoff(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		db := open(t)
		srv := newFakeSMTP(t, nil)
		srv.setFail("451 4.3.0 try again later")
		o := smtpOutbox(t, db, srv, "none", nil)
		c := newClock()
		o.now = c.now
		enqueue(t, o, db, "alice@example.com", "s", "b")

		deliver(t, o, 0)
		rs := outboxRows(t, db)
		if len(rs) != 1 || rs[0].sent || rs[0].attempts != 1 || !strings.Contains(rs[0].lastError, "451") {
			t.Fatalf("after a failure: %+v", rs)
		}
		if !rs[0].next.Equal(c.now().Add(30 * time.Second)) {
			t.Fatalf("next attempt %v, want now + 30 s", rs[0].next)
		}
		if strings.Contains(rs[0].lastError, srv.password) {
			t.Fatal("last_error holds the SMTP password")
		}

		// Not due yet: no new attempt.
		c.advance(29 * time.Second)
		deliver(t, o, 0)
		srv.mu.Lock()
		sessions := srv.sessions
		srv.mu.Unlock()
		if sessions != 1 {
			t.Fatalf("%d SMTP sessions, want 1 before the backoff ends", sessions)
		}

		// Second failure doubles the wait.
		c.advance(time.Second)
		deliver(t, o, 0)
		if rs := outboxRows(t, db); rs[0].attempts != 2 || !rs[0].next.Equal(c.now().Add(time.Minute)) {
			t.Fatalf("after two failures: %+v", rs)
		}

		srv.setFail("")
		c.advance(time.Minute)
		deliver(t, o, 1)
		if rs := outboxRows(t, db); !rs[0].sent || rs[0].attempts != 3 || rs[0].lastError != "" {
			t.Fatalf("after delivery: %+v", rs)
		}
		if len(srv.received()) != 1 {
			t.Fatalf("received %d", len(srv.received()))
		}
	})
}

func TestSMTPStartTLS(t *testing.T) {
	db := enginetest.SQLite(t)
	cert, roots := selfSigned(t)
	srv := newFakeSMTP(t, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	o := smtpOutbox(t, db, srv, "starttls", roots)
	enqueue(t, o, db, "alice@example.com", "s", "b")
	deliver(t, o, 1)
	if got := srv.received(); len(got) != 1 || !got[0].tls {
		t.Fatalf("received %+v, want one message over TLS", got)
	}
}

func TestSMTPStartTLSNotOffered(t *testing.T) {
	db := enginetest.SQLite(t)
	srv := newFakeSMTP(t, nil) // no STARTTLS
	o := smtpOutbox(t, db, srv, "starttls", nil)
	enqueue(t, o, db, "alice@example.com", "s", "b")
	deliver(t, o, 0)
	if rs := outboxRows(t, db); !strings.Contains(rs[0].lastError, "STARTTLS") {
		t.Fatalf("last_error %q", rs[0].lastError)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.authSeen) != 0 {
		t.Fatal("credentials sent without TLS")
	}
}

func TestSMTPImplicitTLS(t *testing.T) {
	db := enginetest.SQLite(t)
	cert, roots := selfSigned(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	srv := &fakeSMTP{ln: ln, user: "keep", password: "smtp-pass-xyzzy"}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go srv.serve(c)
		}
	}()
	o := smtpOutbox(t, db, srv, "tls", roots)
	enqueue(t, o, db, "alice@example.com", "s", "b")
	deliver(t, o, 1)
	if len(srv.received()) != 1 {
		t.Fatal("not received")
	}
}

// selfSigned makes a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "fake smtp"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
