package mail

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrHeader means a header value (address or subject) was refused: it holds
// CR, LF or NUL, is not valid UTF-8, or is not a single plain address.
var ErrHeader = errors.New("mail: invalid header value")

// message is one mail as stored in the outbox.
type message struct {
	ID      string
	Created time.Time
	To      string
	Subject string
	Body    string
}

// maxSubject bounds a subject so that its encoded header stays short.
const maxSubject = 200

// checkHeader refuses values that could end a header line.
func checkHeader(name, v string) error {
	if strings.ContainsAny(v, "\r\n\x00") {
		return fmt.Errorf("%w: %s contains a line break", ErrHeader, name)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrHeader, name)
	}
	return nil
}

// parseRecipient returns the bare address of a single recipient. Only a
// plain address is accepted (no display name, no list), so the value written
// to To and to RCPT TO is the one the caller checked.
func parseRecipient(to string) (string, error) {
	if err := checkHeader("recipient", to); err != nil {
		return "", err
	}
	a, err := mail.ParseAddress(to)
	if err != nil || a.Name != "" || a.Address != to {
		return "", fmt.Errorf("%w: recipient is not a plain address", ErrHeader)
	}
	return a.Address, nil
}

// parseFrom parses the configured sender, which may carry a display name.
func parseFrom(from string) (*mail.Address, error) {
	if err := checkHeader("from", from); err != nil {
		return nil, err
	}
	a, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("%w: sender %q is not an address", ErrHeader, from)
	}
	return a, nil
}

// checkSubject validates a subject line.
func checkSubject(s string) error {
	if err := checkHeader("subject", s); err != nil {
		return err
	}
	if len(s) > maxSubject {
		return fmt.Errorf("%w: subject longer than %d bytes", ErrHeader, maxSubject)
	}
	return nil
}

// render writes m as an RFC 5322 message with CRLF line ends. Every header
// value is checked again here, so a row written around Enqueue cannot inject
// headers either.
func render(m message, from *mail.Address) ([]byte, error) {
	to, err := parseRecipient(m.To)
	if err != nil {
		return nil, err
	}
	if err := checkSubject(m.Subject); err != nil {
		return nil, err
	}
	if err := checkHeader("message id", m.ID); err != nil || !validID(m.ID) {
		return nil, fmt.Errorf("%w: message id", ErrHeader)
	}
	domain := "localhost"
	if i := strings.LastIndexByte(from.Address, '@'); i >= 0 {
		domain = from.Address[i+1:]
	}
	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", from.String())
	header("To", to)
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Date", m.Created.UTC().Format(time.RFC1123Z))
	header("Message-ID", "<"+m.ID+"@"+domain+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	body := strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\r", "\n")
	if plain7bit(body) {
		// Readable as is, which matters for the development file sink where
		// people copy links out of the message.
		header("Content-Transfer-Encoding", "7bit")
		b.WriteString("\r\n")
		b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	} else {
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		w := quotedprintable.NewWriter(&b)
		if _, err := w.Write([]byte(strings.ReplaceAll(body, "\n", "\r\n"))); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes(), nil
}

// plain7bit reports whether body is ASCII without NUL and with lines short
// enough (RFC 5322 §2.1.1) to be sent without encoding.
func plain7bit(body string) bool {
	for line := range strings.SplitSeq(body, "\n") {
		if len(line) > 998 {
			return false
		}
		for i := 0; i < len(line); i++ {
			if c := line[i]; c == 0 || c >= 0x80 {
				return false
			}
		}
	}
	return true
}

// validID reports whether id is safe as a file name and in Message-ID: the
// outbox uses UUIDs.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '-') {
			return false
		}
	}
	return true
}
