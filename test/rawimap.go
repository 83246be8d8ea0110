package test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// Raw is a deliberately tiny IMAP session used to seed and prepare the
// servers, and by tests that want to see the protocol itself. It shares no
// code with imapclient, so a test never trusts the code under test to set up
// or describe the server's state.
type Raw struct {
	conn net.Conn
	r    *bufio.Reader
	tag  int
}

// tlsConfigFor returns a client configuration that trusts only the test CA.
func tlsConfigFor(caFile string) (*tls.Config, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no certificate", caFile)
	}
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}, nil
}

// Security is how a Raw session protects the connection.
type Security int

const (
	Plaintext   Security = iota // no TLS at all
	StartTLS                    // plaintext, then STARTTLS
	ImplicitTLS                 // TLS from the first byte
)

// DialRaw connects to the server's address for the given security, checking
// its certificate against the test CA, and reads the greeting.
func DialRaw(s *Server, sec Security) (*Raw, error) {
	cfg, err := tlsConfigFor(s.TLS.CAFile)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	var conn net.Conn
	if sec == ImplicitTLS {
		conn, err = tls.DialWithDialer(d, "tcp", s.TLSAddr(), cfg)
	} else {
		conn, err = d.Dial("tcp", s.Addr())
	}
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	c := &Raw{conn: conn, r: bufio.NewReader(conn)}
	greeting, err := c.r.ReadString('\n')
	if err == nil && !strings.HasPrefix(greeting, "* OK") {
		err = fmt.Errorf("greeting: %q", greeting)
	}
	if err == nil && sec == StartTLS {
		if _, _, err = c.Run("STARTTLS"); err == nil {
			tlsConn := tls.Client(conn, cfg)
			err = tlsConn.Handshake()
			c.conn, c.r = tlsConn, bufio.NewReader(tlsConn)
		}
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// TLS reports whether the session is encrypted with a verified certificate.
func (c *Raw) TLS() bool {
	tc, ok := c.conn.(*tls.Conn)
	return ok && len(tc.ConnectionState().VerifiedChains) > 0
}

// Close logs out and closes the connection.
func (c *Raw) Close() {
	c.Run("LOGOUT")
	c.conn.Close()
}

// quote makes an IMAP quoted string of a harness-chosen value.
func quote(s string) string {
	if strings.ContainsAny(s, "\r\n\x00") {
		panic(fmt.Sprintf("test harness: %q cannot be quoted", s))
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// Run sends one command line and returns the untagged lines and the tagged
// completion, failing unless it is OK.
func (c *Raw) Run(command string) (untagged []string, done string, err error) {
	return c.runLiteral(command, nil)
}

// runLiteral sends a command whose last argument is a synchronizing literal.
func (c *Raw) runLiteral(command string, literal []byte) (untagged []string, done string, err error) {
	c.tag++
	tag := fmt.Sprintf("H%d", c.tag)
	line := tag + " " + command
	// Each command has its time: a session may live as long as its test.
	c.conn.SetDeadline(time.Now().Add(60 * time.Second))
	if literal != nil {
		line += fmt.Sprintf(" {%d}", len(literal))
	}
	if _, err := fmt.Fprintf(c.conn, "%s\r\n", line); err != nil {
		return nil, "", err
	}
	for {
		resp, err := c.readResponse()
		if err != nil {
			return untagged, "", err
		}
		switch {
		case strings.HasPrefix(resp, "+") && literal != nil:
			if _, err := c.conn.Write(append(literal, "\r\n"...)); err != nil {
				return untagged, "", err
			}
			literal = nil
		case strings.HasPrefix(resp, tag+" "):
			done = strings.TrimPrefix(resp, tag+" ")
			if !strings.HasPrefix(done, "OK") {
				return untagged, done, fmt.Errorf("%s: %s", strings.Fields(command)[0], done)
			}
			return untagged, done, nil
		default:
			untagged = append(untagged, resp)
		}
	}
}

// readResponse reads one response line, inlining the literals it carries.
func (c *Raw) readResponse() (string, error) {
	var b strings.Builder
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return "", err
		}
		line = strings.TrimRight(line, "\r\n")
		b.WriteString(line)
		m := literalAtEnd.FindStringSubmatch(line)
		if m == nil {
			return b.String(), nil
		}
		n, _ := strconv.Atoi(m[1])
		buf := make([]byte, n)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return "", err
		}
		b.Write(buf)
	}
}

var literalAtEnd = regexp.MustCompile(`\{(\d+)\+?\}$`)

// Login logs in with LOGIN.
func (c *Raw) Login(u User) error {
	_, _, err := c.Run("LOGIN " + quote(u.Name) + " " + quote(u.Password))
	return err
}

var appendUID = regexp.MustCompile(`\[APPENDUID \d+ (\d+)\]`)

// Append stores a message in mailbox (UTF-8 name) and returns its UID
// (APPENDUID), as another client of the account would.
func (c *Raw) Append(mailbox string, m Message) (uint32, error) {
	return c.appendMessage(mailbox, m)
}

// appendMessage stores a message and returns its UID (APPENDUID).
func (c *Raw) appendMessage(mailbox string, m Message) (uint32, error) {
	cmd := "APPEND " + quote(encodeMUTF7(mailbox))
	if len(m.Flags) > 0 {
		cmd += " (" + strings.Join(m.Flags, " ") + ")"
	}
	if !m.Date.IsZero() {
		cmd += " " + quote(m.Date.Format("02-Jan-2006 15:04:05 -0700"))
	}
	_, done, err := c.runLiteral(cmd, m.Body)
	if err != nil {
		return 0, err
	}
	match := appendUID.FindStringSubmatch(done)
	if match == nil {
		return 0, fmt.Errorf("APPEND gave no APPENDUID: %s", done)
	}
	uid, err := strconv.ParseUint(match[1], 10, 32)
	return uint32(uid), err
}

// encodeMUTF7 encodes a mailbox name in IMAP's modified UTF-7 (RFC 3501
// 5.1.3), written here apart from imapclient's so the two check each other.
func encodeMUTF7(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,"
	var out strings.Builder
	var pending []uint16
	flush := func() {
		if len(pending) == 0 {
			return
		}
		var bytes []byte
		for _, u := range pending {
			bytes = append(bytes, byte(u>>8), byte(u))
		}
		out.WriteByte('&')
		for i := 0; i < len(bytes); i += 3 {
			chunk := bytes[i:min(i+3, len(bytes))]
			var v uint32
			for j := 0; j < 3; j++ {
				v <<= 8
				if j < len(chunk) {
					v |= uint32(chunk[j])
				}
			}
			for j := 0; j < len(chunk)+1; j++ {
				out.WriteByte(alphabet[(v>>(18-6*j))&63])
			}
		}
		out.WriteByte('-')
		pending = nil
	}
	for _, r := range s {
		if r >= 0x20 && r <= 0x7e {
			flush()
			if r == '&' {
				out.WriteString("&-")
			} else {
				out.WriteRune(r)
			}
			continue
		}
		pending = append(pending, utf16.Encode([]rune{r})...)
	}
	flush()
	return out.String()
}
