package imapclient_test

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"imapfs/imapclient"
)

// Greetings, SASL exchanges and broken connections, against a scripted
// server: behaviour Dovecot and Cyrus cannot be made to show on demand.

// scriptedGreetingServer starts a Client on one end of a pipe whose other
// end greets with greeting (a whole line without CRLF) and is then driven
// by the test through the returned connection and reader.
func scriptedGreetingServer(t *testing.T, greeting string) (*imapclient.Client, net.Conn, *bufio.Reader) {
	t.Helper()
	client, server := net.Pipe()
	t.Cleanup(func() { server.Close() })
	go fmt.Fprintf(server, "%s\r\n", greeting)
	c, err := imapclient.New(ctxT(t), client, imapclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, server, bufio.NewReader(server)
}

// greetingReadLine reads one line the client sent, CRLF included.
func greetingReadLine(t *testing.T, conn net.Conn, r *bufio.Reader) string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading the client's line: %q, %v", line, err)
	}
	return line
}

// greetingExpectNothing checks the client sends nothing for a moment.
func greetingExpectNothing(t *testing.T, conn net.Conn, r *bufio.Reader) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if b, err := r.Peek(1); err == nil {
		t.Fatalf("client sent %q unasked", b)
	}
	conn.SetReadDeadline(time.Time{})
}

// greetingDecodeIR splits "T1 AUTHENTICATE MECH <base64>\r\n" and decodes
// the initial response.
func greetingDecodeIR(t *testing.T, line, mech string) string {
	t.Helper()
	prefix := "T1 AUTHENTICATE " + mech + " "
	if !strings.HasPrefix(line, prefix) || !strings.HasSuffix(line, "\r\n") {
		t.Fatalf("client sent %q, want %q<base64>", line, prefix)
	}
	ir, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(strings.TrimPrefix(line, prefix), "\r\n"))
	if err != nil {
		t.Fatalf("initial response of %q: %v", line, err)
	}
	return string(ir)
}

func TestGreetingPreauth(t *testing.T) {
	c, conn, r := scriptedGreetingServer(t, "* PREAUTH [CAPABILITY IMAP4rev1] ready")
	if st := c.State(); st != imapclient.StateAuthenticated {
		t.Errorf("state after PREAUTH: %v", st)
	}
	if caps := c.Capabilities(); len(caps) != 1 || !caps.Has("IMAP4rev1") {
		t.Errorf("capabilities from the greeting's code: %v", caps)
	}
	// The code had them: no CAPABILITY command is needed.
	greetingExpectNothing(t, conn, r)
}

func TestGreetingBye(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	go func() {
		fmt.Fprintf(server, "* BYE too many connections\r\n")
		server.Close()
	}()
	c, err := imapclient.New(ctxT(t), client, imapclient.Options{})
	if err == nil {
		c.Close()
		t.Fatal("New accepted a BYE greeting")
	}
	if !errors.Is(err, imapclient.ErrAbort) || !strings.Contains(err.Error(), "too many connections") {
		t.Errorf("BYE greeting: %v", err)
	}
	var bye *imapclient.ByeError
	if !errors.As(err, &bye) || bye.Text != "too many connections" {
		t.Errorf("BYE greeting: no ByeError with the server's text: %v", err)
	}
}

const greetingOAuthCaps = "* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2 AUTH=OAUTHBEARER SASL-IR] hi"

// greetingJSONError is the challenge Gmail sends when a token is refused.
var greetingJSONError = base64.StdEncoding.EncodeToString([]byte(`{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`))

func TestAuthenticateOAuthFailure(t *testing.T) {
	for _, tc := range []struct {
		mech   imapclient.SASLMechanism
		name   string
		ir     string
		answer string // to the error challenge, CRLF included
	}{
		{imapclient.XOAUTH2("U", "T"), "XOAUTH2", "user=U\x01auth=Bearer T\x01\x01", "\r\n"},
		{imapclient.OAuthBearer("U", "H", 993, "T"), "OAUTHBEARER", "n,a=U,\x01host=H\x01port=993\x01auth=Bearer T\x01\x01", "AQ==\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, conn, r := scriptedGreetingServer(t, greetingOAuthCaps)
			c.AllowPlaintext()
			done := make(chan error, 1)
			go func() { done <- c.Authenticate(ctxT(t), tc.mech) }()
			if ir := greetingDecodeIR(t, greetingReadLine(t, conn, r), tc.name); ir != tc.ir {
				t.Errorf("initial response %q, want %q", ir, tc.ir)
			}
			// The client's answers wait for the challenge.
			greetingExpectNothing(t, conn, r)
			fmt.Fprintf(conn, "+ %s\r\n", greetingJSONError)
			if line := greetingReadLine(t, conn, r); line != tc.answer {
				t.Errorf("answer to the error challenge %q, want %q", line, tc.answer)
			}
			fmt.Fprintf(conn, "T1 NO [AUTHENTICATIONFAILED] invalid credentials\r\n")
			err := <-done
			if !errors.Is(err, imapclient.ErrNo) {
				t.Fatalf("refused token: %v", err)
			}
			if st := c.State(); st != imapclient.StateNotAuthenticated {
				t.Errorf("state after a refused AUTHENTICATE: %v", st)
			}
			// The connection is still usable.
			go func() { done <- c.Noop(ctxT(t)) }()
			if line := greetingReadLine(t, conn, r); line != "T2 NOOP\r\n" {
				t.Fatalf("after the refusal the client sent %q", line)
			}
			fmt.Fprintf(conn, "T2 OK done\r\n")
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Without SASL-IR the initial response waits for an empty continuation.
func TestAuthenticateWithoutSASLIR(t *testing.T) {
	c, conn, r := scriptedGreetingServer(t, "* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2] hi")
	c.AllowPlaintext()
	done := make(chan error, 1)
	go func() { done <- c.Authenticate(ctxT(t), imapclient.XOAUTH2("U", "T")) }()
	if line := greetingReadLine(t, conn, r); line != "T1 AUTHENTICATE XOAUTH2\r\n" {
		t.Fatalf("client sent %q", line)
	}
	greetingExpectNothing(t, conn, r)
	fmt.Fprintf(conn, "+ \r\n")
	line := greetingReadLine(t, conn, r)
	ir, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(line, "\r\n"))
	if err != nil || string(ir) != "user=U\x01auth=Bearer T\x01\x01" {
		t.Fatalf("initial response after the continuation: %q (%q, %v)", line, ir, err)
	}
	fmt.Fprintf(conn, "T1 OK [CAPABILITY IMAP4rev1 IDLE] welcome\r\n")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c.State() != imapclient.StateAuthenticated || !c.Has("IDLE") || c.Has("AUTH=XOAUTH2") {
		t.Errorf("after AUTHENTICATE: state %v, capabilities %v", c.State(), c.Capabilities())
	}
}

// Responses the client does not know are skipped whole, literals included.
func TestGreetingUnknownResponsesIgnored(t *testing.T) {
	c, conn, r := scriptedGreetingServer(t, "* OK [CAPABILITY IMAP4rev1] hi")
	for i, script := range []string{
		"* XUNKNOWN {5}\r\nab)cd (x y)\r\n",
		"* OK [XFOO bar] text\r\n",
	} {
		done := make(chan error, 1)
		go func() { done <- c.Noop(ctxT(t)) }()
		tag := fmt.Sprintf("T%d", i+1)
		if line := greetingReadLine(t, conn, r); line != tag+" NOOP\r\n" {
			t.Fatalf("client sent %q", line)
		}
		fmt.Fprintf(conn, "%s%s OK done\r\n", script, tag)
		if err := <-done; err != nil {
			t.Errorf("NOOP with %q: %v", script, err)
		}
		if err := c.Err(); err != nil {
			t.Fatalf("connection ended after %q: %v", script, err)
		}
	}
}

// A connection closed while a command waits fails it and every later call
// with ErrAbort.
func TestGreetingConnectionLost(t *testing.T) {
	c, conn, r := scriptedGreetingServer(t, "* OK [CAPABILITY IMAP4rev1] hi")
	done := make(chan error, 1)
	go func() { done <- c.Noop(ctxT(t)) }()
	if line := greetingReadLine(t, conn, r); line != "T1 NOOP\r\n" {
		t.Fatalf("client sent %q", line)
	}
	conn.Close()
	if err := <-done; !errors.Is(err, imapclient.ErrAbort) {
		t.Errorf("waiting NOOP: %v", err)
	}
	if err := c.Noop(ctxT(t)); !errors.Is(err, imapclient.ErrAbort) {
		t.Errorf("later NOOP: %v", err)
	}
	if _, err := c.Capability(ctxT(t)); !errors.Is(err, imapclient.ErrAbort) {
		t.Errorf("later CAPABILITY: %v", err)
	}
	if err := c.Err(); !errors.Is(err, imapclient.ErrAbort) {
		t.Errorf("Err: %v", err)
	}
}

// A server may answer AUTHENTICATE with "+" as soon as it has read the
// command line, before the client starts waiting for it.
func TestAuthenticateImmediateChallenge(t *testing.T) {
	c, conn, r := scriptedGreetingServer(t, greetingOAuthCaps)
	c.AllowPlaintext()
	done := make(chan error, 1)
	go func() { done <- c.Authenticate(ctxT(t), imapclient.XOAUTH2("U", "T")) }()
	greetingDecodeIR(t, greetingReadLine(t, conn, r), "XOAUTH2")
	fmt.Fprintf(conn, "+ %s\r\n", greetingJSONError)
	if line := greetingReadLine(t, conn, r); line != "\r\n" {
		t.Errorf("answer to the error challenge %q, want an empty line", line)
	}
	fmt.Fprintf(conn, "T1 NO [AUTHENTICATIONFAILED] invalid credentials\r\n")
	if err := <-done; !errors.Is(err, imapclient.ErrNo) {
		t.Fatalf("refused token: %v", err)
	}
}

// A mailbox that becomes read-only while selected (an untagged
// OK [READ-ONLY], as when another session takes it over) is reported, and
// later changes to it fail with ErrReadOnly without being sent (imaplib's
// readonly exception).
func TestMailboxBecomesReadOnly(t *testing.T) {
	c, conn, r := scriptedGreetingServer(t, "* PREAUTH [CAPABILITY IMAP4rev1 UIDPLUS] ready")
	done := make(chan error, 1)
	go func() {
		_, err := c.Select(ctxT(t), "INBOX", false)
		done <- err
	}()
	if line := greetingReadLine(t, conn, r); line != "T1 SELECT INBOX\r\n" {
		t.Fatalf("client sent %q", line)
	}
	fmt.Fprintf(conn, "* 1 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\nT1 OK [READ-WRITE] selected\r\n")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if m := c.Mailbox(); m == nil || m.ReadOnly {
		t.Fatalf("after SELECT: %+v", m)
	}
	go func() { done <- c.Noop(ctxT(t)) }()
	if line := greetingReadLine(t, conn, r); line != "T2 NOOP\r\n" {
		t.Fatalf("client sent %q", line)
	}
	fmt.Fprintf(conn, "* OK [READ-ONLY] another session took over\r\nT2 OK done\r\n")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if m := c.Mailbox(); m == nil || !m.ReadOnly {
		t.Fatalf("after the notice: %+v", m)
	}
	var set imapclient.SeqSet
	set.AddNum(1)
	if _, err := c.UIDStore(ctxT(t), set, imapclient.StoreAdd, []string{imapclient.FlagSeen}, nil); !errors.Is(err, imapclient.ErrReadOnly) {
		t.Fatalf("STORE on a read-only mailbox: %v", err)
	}
	if _, err := c.UIDExpunge(ctxT(t), set); !errors.Is(err, imapclient.ErrReadOnly) {
		t.Fatalf("UID EXPUNGE on a read-only mailbox: %v", err)
	}
	greetingExpectNothing(t, conn, r)
}
