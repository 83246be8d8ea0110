package imapclient_test

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"testing"

	"imapfs/imapclient"
	"imapfs/imapclient/imapwire"
	"imapfs/test"
)

// Capabilities the greeting does not carry, STARTTLS, login and
// IMAP4rev2, against a scripted server: Dovecot and Cyrus always send
// them in the greeting and the tagged OK of a login.

// capsDial starts New on one end of a pipe whose other end greets with
// greeting; New itself may send commands, so the test answers them before
// it collects the Client with the returned function.
func capsDial(t *testing.T, greeting string) (conn net.Conn, r *bufio.Reader, client func() *imapclient.Client) {
	t.Helper()
	clientEnd, server := net.Pipe()
	t.Cleanup(func() { server.Close() })
	type result struct {
		c   *imapclient.Client
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := imapclient.New(ctxT(t), clientEnd, imapclient.Options{})
		done <- result{c, err}
	}()
	fmt.Fprintf(server, "%s\r\n", greeting)
	return server, bufio.NewReader(server), func() *imapclient.Client {
		t.Helper()
		res := <-done
		if res.err != nil {
			t.Fatal(res.err)
		}
		t.Cleanup(func() { res.c.Close() })
		return res.c
	}
}

// capsExpect reads the client's next line and checks it.
func capsExpect(t *testing.T, conn net.Conn, r *bufio.Reader, want string) {
	t.Helper()
	if line := greetingReadLine(t, conn, r); line != want {
		t.Fatalf("client sent %q, want %q", line, want)
	}
}

// A greeting without [CAPABILITY] (RFC 3501 7.1: the code is optional) is
// followed by a CAPABILITY command, before the Client is handed out.
func TestCapabilitiesAskedAfterBareGreeting(t *testing.T) {
	for _, tc := range []struct {
		greeting string
		state    imapclient.State
	}{
		{"* PREAUTH Ready.", imapclient.StateAuthenticated},
		{"* OK ready", imapclient.StateNotAuthenticated},
	} {
		t.Run(tc.greeting, func(t *testing.T) {
			conn, r, client := capsDial(t, tc.greeting)
			capsExpect(t, conn, r, "T1 CAPABILITY\r\n")
			fmt.Fprintf(conn, "* CAPABILITY IMAP4rev1 UIDPLUS AUTH=PLAIN SASL-IR\r\nT1 OK done\r\n")
			c := client()
			if c.State() != tc.state || !c.Has("UIDPLUS") || !c.Has("AUTH=PLAIN") {
				t.Fatalf("state %v, capabilities %v", c.State(), c.Capabilities())
			}
			if tc.state == imapclient.StateAuthenticated {
				return
			}
			c.AllowPlaintext()
			done := make(chan error, 1)
			go func() { done <- c.Authenticate(ctxT(t), imapclient.Plain("", "u", "p")) }()
			capsExpect(t, conn, r, "T2 AUTHENTICATE PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00u\x00p"))+"\r\n")
			fmt.Fprintf(conn, "T2 OK [CAPABILITY IMAP4rev1 UIDPLUS MOVE] welcome\r\n")
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if !c.Has("MOVE") || c.Has("AUTH=PLAIN") {
				t.Errorf("after AUTHENTICATE: %v", c.Capabilities())
			}
			greetingExpectNothing(t, conn, r)
		})
	}
}

// After a login whose answer carries no capabilities they are asked;
// when an untagged CAPABILITY came with the answer, they are not.
func TestCapabilitiesAfterLogin(t *testing.T) {
	for _, tc := range []struct {
		name, answer string
		ask          bool
	}{
		{"bare OK", "T1 OK logged in\r\n", true},
		{"untagged", "* CAPABILITY IMAP4rev1 UIDPLUS\r\nT1 OK logged in\r\n", false},
		{"code", "T1 OK [CAPABILITY IMAP4rev1 UIDPLUS] logged in\r\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, conn, r := scriptedGreetingServer(t, "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi")
			c.AllowPlaintext()
			done := make(chan error, 1)
			go func() { done <- c.Login(ctxT(t), "u", "p") }()
			capsExpect(t, conn, r, "T1 LOGIN u p\r\n")
			fmt.Fprint(conn, tc.answer)
			if tc.ask {
				capsExpect(t, conn, r, "T2 CAPABILITY\r\n")
				fmt.Fprintf(conn, "* CAPABILITY IMAP4rev1 UIDPLUS\r\nT2 OK done\r\n")
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if !c.Has("UIDPLUS") || c.Has("AUTH=PLAIN") {
				t.Errorf("after LOGIN: %v", c.Capabilities())
			}
			greetingExpectNothing(t, conn, r)
		})
	}
}

// After STARTTLS the capabilities said in plaintext are forgotten and
// asked again over TLS (RFC 3501 6.2.1), also when the tagged OK carried
// some.
func TestCapabilitiesAfterStartTLS(t *testing.T) {
	s := test.SharedDovecot(t)
	cert, err := tls.LoadX509KeyPair(s.TLS.CertFile, s.TLS.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	conn, r, client := capsDial(t, "* OK ready")
	capsExpect(t, conn, r, "T1 CAPABILITY\r\n")
	fmt.Fprintf(conn, "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\nT1 OK done\r\n")
	c := client()
	done := make(chan error, 1)
	config := tlsConfig(t, s)
	config.ServerName = "localhost"
	go func() { done <- c.StartTLS(ctxT(t), config) }()
	capsExpect(t, conn, r, "T2 STARTTLS\r\n")
	fmt.Fprintf(conn, "T2 OK [CAPABILITY IMAP4rev1 XINSECURE] begin TLS\r\n")
	tlsConn := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{cert}})
	if err := tlsConn.HandshakeContext(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	tr := bufio.NewReader(tlsConn)
	line, err := tr.ReadString('\n')
	if err != nil || line != "T3 CAPABILITY\r\n" {
		t.Fatalf("over TLS the client sent %q, %v", line, err)
	}
	fmt.Fprintf(tlsConn, "* CAPABILITY IMAP4rev1 AUTH=PLAIN UIDPLUS\r\nT3 OK done\r\n")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !c.Has("UIDPLUS") || !c.Has("AUTH=PLAIN") || c.Has("XINSECURE") || c.Has("LOGINDISABLED") {
		t.Fatalf("after STARTTLS: %v", c.Capabilities())
	}
	go func() { done <- c.Authenticate(ctxT(t), imapclient.Plain("", "u", "p")) }()
	line, err = tr.ReadString('\n')
	if err != nil || line != "T4 AUTHENTICATE PLAIN\r\n" {
		t.Fatalf("client sent %q, %v", line, err)
	}
	fmt.Fprintf(tlsConn, "+ \r\n")
	line, _ = tr.ReadString('\n')
	if ir, _ := base64.StdEncoding.DecodeString(line[:len(line)-2]); string(ir) != "\x00u\x00p" {
		t.Errorf("initial response %q", line)
	}
	fmt.Fprintf(tlsConn, "T4 OK [CAPABILITY IMAP4rev1 UIDPLUS] welcome\r\n")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A server that announces IMAP4rev2 alone has the extensions RFC 9051
// folds in (its appendix E), and nothing else.
func TestCapabilitiesIMAP4rev2Implies(t *testing.T) {
	caps := imapclient.Capabilities{"IMAP4REV2": true, "AUTH=PLAIN": true}
	for _, name := range []string{"NAMESPACE", "UNSELECT", "UIDPLUS", "ESEARCH", "SEARCHRES",
		"ENABLE", "IDLE", "SASL-IR", "LIST-EXTENDED", "LIST-STATUS", "MOVE", "LITERAL-", "STATUS=SIZE", "imap4rev2"} {
		if !caps.Has(name) {
			t.Errorf("IMAP4rev2 does not imply %s", name)
		}
	}
	for _, name := range []string{"IMAP4rev1", "CONDSTORE", "QRESYNC", "LITERAL+", "SORT", "QUOTA", "ACL", "AUTH=LOGIN", "BINARY"} {
		if caps.Has(name) {
			t.Errorf("IMAP4rev2 implies %s", name)
		}
	}
	if rev1 := (imapclient.Capabilities{"IMAP4REV1": true}); rev1.Has("UIDPLUS") {
		t.Error("IMAP4rev1 implies UIDPLUS")
	}
}

// A rev2-only server gets the commands it has without ErrNotSupported,
// and, once rev2 is enabled, its ESEARCH answer to SEARCH is read.
func TestIMAP4rev2Server(t *testing.T) {
	c, conn, r := scriptedGreetingServer(t, "* PREAUTH [CAPABILITY IMAP4rev2] ready")
	done := make(chan error, 1)
	run := func(f func() error) { go func() { done <- f() }() }
	wait := func(what string) {
		t.Helper()
		if err := <-done; err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	run(func() error {
		on, err := c.Enable(ctxT(t), "IMAP4rev2")
		if err == nil && len(on) != 1 {
			err = fmt.Errorf("enabled %v", on)
		}
		return err
	})
	capsExpect(t, conn, r, "T1 ENABLE IMAP4rev2\r\n")
	fmt.Fprintf(conn, "* ENABLED IMAP4rev2\r\nT1 OK enabled\r\n")
	wait("ENABLE")

	run(func() error {
		_, err := c.Namespace(ctxT(t))
		return err
	})
	capsExpect(t, conn, r, "T2 NAMESPACE\r\n")
	fmt.Fprintf(conn, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\nT2 OK done\r\n")
	wait("NAMESPACE")

	run(func() error {
		_, err := c.Select(ctxT(t), "INBOX", false)
		return err
	})
	capsExpect(t, conn, r, "T3 SELECT INBOX\r\n")
	fmt.Fprintf(conn, "* 5 EXISTS\r\n* OK [UIDVALIDITY 9] ok\r\nT3 OK [READ-WRITE] selected\r\n")
	wait("SELECT")

	criteria, err := imapclient.ParseSearchCriteria("UNDELETED")
	if err != nil {
		t.Fatal(err)
	}
	var uids []uint32
	run(func() (err error) {
		uids, err = c.UIDSearch(ctxT(t), criteria)
		return err
	})
	capsExpect(t, conn, r, "T4 UID SEARCH UNDELETED\r\n")
	fmt.Fprintf(conn, "* ESEARCH (TAG \"T4\") UID ALL 3:5,9\r\nT4 OK done\r\n")
	wait("UID SEARCH")
	if fmt.Sprint(uids) != "[3 4 5 9]" {
		t.Errorf("UID SEARCH answered with ESEARCH: %v", uids)
	}

	var set imapclient.SeqSet
	set.AddNum(3)
	run(func() error {
		_, err := c.UIDMove(ctxT(t), set, "Archive")
		return err
	})
	capsExpect(t, conn, r, "T5 UID MOVE 3 Archive\r\n")
	fmt.Fprintf(conn, "* OK [COPYUID 7 3 1] moved\r\n* 1 EXPUNGE\r\nT5 OK done\r\n")
	wait("UID MOVE")

	run(func() error {
		_, err := c.UIDExpunge(ctxT(t), set)
		return err
	})
	capsExpect(t, conn, r, "T6 UID EXPUNGE 3\r\n")
	fmt.Fprintf(conn, "T6 OK done\r\n")
	wait("UID EXPUNGE")

	run(func() error { return c.Unselect(ctxT(t)) })
	capsExpect(t, conn, r, "T7 UNSELECT\r\n")
	fmt.Fprintf(conn, "T7 OK done\r\n")
	wait("UNSELECT")

	// Not folded into rev2: refused without a word to the server.
	if _, err := c.GetQuotaRoot(ctxT(t), "INBOX"); !errors.Is(err, imapclient.ErrNotSupported) {
		t.Errorf("GETQUOTAROOT on a server without QUOTA: %v", err)
	}
	greetingExpectNothing(t, conn, r)
}

// Once UTF8=ACCEPT is enabled, SEARCH sends no CHARSET (RFC 6855 3): its
// strings are UTF-8, quoted as they are.
func TestSearchUTF8AcceptNoCharset(t *testing.T) {
	c, conn, r := scriptedGreetingServer(t, "* PREAUTH [CAPABILITY IMAP4rev1 ENABLE UTF8=ACCEPT ESEARCH] ready")
	criteria, err := imapclient.ParseSearchCriteria(`SUBJECT "Grüße"`)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Enable(ctxT(t), "UTF8=ACCEPT")
		done <- err
	}()
	capsExpect(t, conn, r, "T1 ENABLE UTF8=ACCEPT\r\n")
	fmt.Fprintf(conn, "* ENABLED UTF8=ACCEPT\r\nT1 OK done\r\n")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	go func() {
		_, err := c.UIDSearch(ctxT(t), criteria)
		done <- err
	}()
	capsExpect(t, conn, r, "T2 UID SEARCH SUBJECT \"Grüße\"\r\n")
	fmt.Fprintf(conn, "* SEARCH\r\nT2 OK done\r\n")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	criteria.Charset = "UTF-8"
	go func() {
		_, err := c.UIDSearchExtended(ctxT(t), criteria, imapclient.SearchReturn{Count: true})
		done <- err
	}()
	capsExpect(t, conn, r, "T3 UID SEARCH RETURN (COUNT) SUBJECT \"Grüße\"\r\n")
	fmt.Fprintf(conn, "* ESEARCH (TAG \"T3\") UID COUNT 0\r\nT3 OK done\r\n")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// An ESEARCH answer to SEARCH cannot list more matches than there are
// messages: a compact set of billions is refused, not expanded.
func TestSearchESearchBounded(t *testing.T) {
	c, conn, r := scriptedGreetingServer(t, "* PREAUTH [CAPABILITY IMAP4rev2] ready")
	done := make(chan error, 1)
	go func() {
		_, err := c.Select(ctxT(t), "INBOX", true)
		done <- err
	}()
	capsExpect(t, conn, r, "T1 EXAMINE INBOX\r\n")
	fmt.Fprintf(conn, "* 2 EXISTS\r\nT1 OK [READ-ONLY] examined\r\n")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	criteria, err := imapclient.ParseSearchCriteria("ALL")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_, err := c.Search(ctxT(t), criteria)
		done <- err
	}()
	capsExpect(t, conn, r, "T2 SEARCH ALL\r\n")
	fmt.Fprintf(conn, "* ESEARCH (TAG \"T2\") ALL 1:4294967295\r\nT2 OK done\r\n")
	var perr *imapwire.ProtocolError
	if err := <-done; !errors.As(err, &perr) {
		t.Fatalf("SEARCH answered with more matches than messages: %v", err)
	}
	go func() { done <- c.Noop(ctxT(t)) }()
	capsExpect(t, conn, r, "T3 NOOP\r\n")
	fmt.Fprintf(conn, "T3 OK done\r\n")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
