package test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Scripted is a small in-memory IMAP server whose behaviour a Variation
// sets: for what RFC 3501 and RFC 9051 allow but Dovecot and Cyrus never
// do (FETCH items in another order, greetings without capabilities, missing
// extensions, an IMAP4rev2-only server, odd but legal atoms). It is no
// replacement for the real servers: use it only for behaviour they cannot
// show. Its state is read and changed directly (Messages, Body, Seed...),
// which is the test's independent view of what a client did.
//
// One account, hierarchy delimiter "/", mailbox names stored as they go on
// the wire (modified UTF-7). It listens on loopback in plaintext (Port) and
// over implicit TLS (TLSPort) with a certificate of its own test CA.
type Scripted struct {
	Host    string // always 127.0.0.1
	Port    int    // plaintext; no STARTTLS
	TLSPort int    // implicit TLS
	TLS     TLSFiles
	User    User
	V       Variation

	plain, secure net.Listener
	wg            sync.WaitGroup

	transcriptMu sync.Mutex
	transcript   bytes.Buffer // both directions of every session

	mu        sync.Mutex
	boxes     map[string]*scriptedBox
	nextValid uint32
	commands  []string // every command received, without its tag
	sessions  int      // started, for the transcript
	closed    bool
	conns     map[net.Conn]bool
}

// Variation is how a Scripted server differs from a plain IMAP4rev1 server
// with LITERAL+, UIDPLUS, MOVE, UNSELECT and ENABLE (the zero Variation).
type Variation struct {
	// Capabilities replaces the capabilities announced (and so served);
	// nil means DefaultScriptedCapabilities. With IMAP4rev2 and not
	// IMAP4rev1 the server follows RFC 9051 from the start (ESEARCH
	// answers to SEARCH, no RECENT) and serves what IMAP4rev2 includes;
	// with both, after ENABLE IMAP4rev2.
	Capabilities []string
	// Greeting replaces the greeting line (without CRLF). "* PREAUTH ..."
	// starts every connection logged in. Empty: "* OK [CAPABILITY ...] ...".
	Greeting string
	// LoginWithoutCapability leaves the CAPABILITY code out of LOGIN's OK.
	LoginWithoutCapability bool
	// FetchOrder reorders the data items of every FETCH response:
	// "uid-last", "reverse" or "flags-last". Empty: as asked, UID first.
	FetchOrder string
	// RefuseDeleteSelected answers DELETE of the mailbox the session has
	// selected with NO, as some servers do.
	RefuseDeleteSelected bool
	// LowerCase writes response names, status words, response codes and
	// FETCH item names in lower case (the grammar is case-insensitive).
	LowerCase bool
	// Chatter adds what a client must ignore: an unknown untagged
	// response and an OK with an unknown code before every tagged
	// response, an unknown code with arguments in tagged OKs, and runs of
	// spaces in their text (the only place the grammar allows them).
	Chatter bool
	// Keywords are offered in FLAGS and PERMANENTFLAGS, and Seed gives
	// them to every message it stores.
	Keywords []string
	// RefuseUIDExpunge answers every UID EXPUNGE with NO, expunging
	// nothing, as a server whose storage fails does.
	RefuseUIDExpunge bool
	// DropAfterCopy carries out every COPY and then closes the connection
	// without answering it: the copy is made, and the client cannot know.
	DropAfterCopy bool
	// BrokenAppendUID stores every APPEND and answers it with an APPENDUID
	// code that does not parse: the message is there, the answer unclear.
	BrokenAppendUID bool
	// RFC822SizeSurplus is added to every RFC822.SIZE: the server claims
	// messages larger than the bytes it serves (a damaged index), and
	// answers a partial FETCH beyond the real end with an empty string,
	// as RFC 3501 says.
	RFC822SizeSurplus int
}

// DefaultScriptedCapabilities is what a zero Variation announces.
var DefaultScriptedCapabilities = []string{"IMAP4rev1", "LITERAL+", "UIDPLUS", "MOVE", "UNSELECT", "ENABLE"}

// rev2Implied is what IMAP4rev2 (RFC 9051) includes without announcing it.
var rev2Implied = []string{"UIDPLUS", "MOVE", "UNSELECT", "ENABLE", "ESEARCH", "NAMESPACE", "LITERAL-", "SASL-IR", "CHILDREN"}

type scriptedBox struct {
	uidValidity uint32
	uidNext     uint32
	msgs        []*scriptedMsg // by UID
}

type scriptedMsg struct {
	uid   uint32
	flags []string
	date  time.Time
	body  []byte
}

// StartScripted starts a Scripted server with variation v, holding an empty
// INBOX, until the test ends.
func StartScripted(t T, v Variation) *Scripted {
	t.Helper()
	dir, err := os.MkdirTemp("", "imapfs-scripted-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	files, err := makeTLSFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(files.CertFile, files.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	s := &Scripted{
		Host:      "127.0.0.1",
		TLS:       files,
		User:      User{Name: "scripted", Password: "scripted-secret"},
		V:         v,
		boxes:     map[string]*scriptedBox{},
		nextValid: 1000,
		conns:     map[net.Conn]bool{},
	}
	s.createLocked("INBOX")
	if s.plain, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if s.secure, err = tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}}); err != nil {
		s.plain.Close()
		t.Fatal(err)
	}
	s.Port = s.plain.Addr().(*net.TCPAddr).Port
	s.TLSPort = s.secure.Addr().(*net.TCPAddr).Port
	for _, l := range []net.Listener{s.plain, s.secure} {
		s.wg.Go(func() { s.accept(l) })
	}
	t.Cleanup(s.stop)
	return s
}

// Addr is the plaintext address; TLSAddr the implicit-TLS one.
func (s *Scripted) Addr() string    { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }
func (s *Scripted) TLSAddr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.TLSPort)) }

// URL is the imapfs SERVER argument: imaps:// when implicitTLS, else
// imap:// (which needs --plaintext: there is no STARTTLS).
func (s *Scripted) URL(implicitTLS bool) string {
	if implicitTLS {
		return "imaps://" + s.User.Name + "@" + s.TLSAddr()
	}
	return "imap://" + s.User.Name + "@" + s.Addr()
}

func (s *Scripted) accept(l net.Listener) {
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			conn.Close()
			return
		}
		s.conns[conn] = true
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() {
				s.mu.Lock()
				delete(s.conns, conn)
				s.mu.Unlock()
				conn.Close()
			}()
			s.Serve(conn, conn)
		})
	}
}

func (s *Scripted) stop() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.plain.Close()
	s.secure.Close()
	s.wg.Wait()
}

// Commands returns every command received so far, without tags, literals
// shown as {n}, LOGIN's arguments left out.
func (s *Scripted) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.commands)
}

// Transcript returns the end (at most max bytes) of what every session
// sent and received, lines prefixed "N C: " and "N S: " (N the session).
func (s *Scripted) Transcript(max int) string {
	s.transcriptMu.Lock()
	defer s.transcriptMu.Unlock()
	b := s.transcript.Bytes()
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// CreateMailbox creates a mailbox (wire name, "/" between levels).
func (s *Scripted) CreateMailbox(t T, name string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.boxes[name] != nil {
		t.Fatalf("scripted: %q exists", name)
	}
	s.createLocked(name)
}

func (s *Scripted) createLocked(name string) *scriptedBox {
	s.nextValid++
	b := &scriptedBox{uidValidity: s.nextValid, uidNext: 1}
	s.boxes[name] = b
	return b
}

// Mailboxes returns the names of the mailboxes, sorted.
func (s *Scripted) Mailboxes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for n := range s.boxes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Seed stores messages in mailbox and returns their UIDs. Each message
// also gets the Variation's Keywords.
func (s *Scripted) Seed(t T, mailbox string, msgs ...Message) []uint32 {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.boxes[mailbox]
	if b == nil {
		t.Fatalf("scripted: no mailbox %q", mailbox)
	}
	var uids []uint32
	for _, m := range msgs {
		date := m.Date
		if date.IsZero() {
			date = time.Now()
		}
		flags := append(slices.Clone(m.Flags), s.V.Keywords...)
		uids = append(uids, b.add(m.Body, flags, date))
	}
	return uids
}

func (b *scriptedBox) add(body []byte, flags []string, date time.Time) uint32 {
	m := &scriptedMsg{uid: b.uidNext, flags: normalFlags(flags), date: date.Truncate(time.Second), body: slices.Clone(body)}
	b.uidNext++
	b.msgs = append(b.msgs, m)
	return m.uid
}

// normalFlags sorts flags and drops duplicates (system flags compared
// without regard to case).
func normalFlags(flags []string) []string {
	var out []string
	for _, f := range flags {
		if !slices.ContainsFunc(out, func(g string) bool { return sameFlag(f, g) }) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}

func sameFlag(a, b string) bool {
	if strings.HasPrefix(a, `\`) {
		return strings.EqualFold(a, b)
	}
	return a == b
}

// Messages returns what mailbox holds, by UID.
func (s *Scripted) Messages(t T, mailbox string) []StoredMessage {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.boxes[mailbox]
	if b == nil {
		t.Fatalf("scripted: no mailbox %q (have %v)", mailbox, s.namesLocked())
	}
	var out []StoredMessage
	for _, m := range b.msgs {
		out = append(out, StoredMessage{UID: m.uid, Size: int64(len(m.body)), InternalDate: m.date, Flags: slices.Clone(m.flags)})
	}
	return out
}

func (s *Scripted) namesLocked() []string {
	var names []string
	for n := range s.boxes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Body returns the bytes of a message.
func (s *Scripted) Body(t T, mailbox string, uid uint32) []byte {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.boxes[mailbox]; b != nil {
		if m := b.byUID(uid); m != nil {
			return slices.Clone(m.body)
		}
	}
	t.Fatalf("scripted: no UID %d in %q", uid, mailbox)
	return nil
}

// Expunge removes a message as another client would.
func (s *Scripted) Expunge(t T, mailbox string, uid uint32) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.boxes[mailbox]
	if b == nil || b.byUID(uid) == nil {
		t.Fatalf("scripted: no UID %d in %q", uid, mailbox)
	}
	b.remove(uid)
}

func (b *scriptedBox) byUID(uid uint32) *scriptedMsg {
	for _, m := range b.msgs {
		if m.uid == uid {
			return m
		}
	}
	return nil
}

func (b *scriptedBox) remove(uid uint32) {
	b.msgs = slices.DeleteFunc(b.msgs, func(m *scriptedMsg) bool { return m.uid == uid })
}

// has says whether the server serves an extension: announced, or implied
// by IMAP4rev2.
func (s *Scripted) has(capability string) bool {
	caps := s.capabilities()
	if slices.ContainsFunc(caps, func(c string) bool { return strings.EqualFold(c, capability) }) {
		return true
	}
	return s.rev2Only() && slices.Contains(rev2Implied, strings.ToUpper(capability))
}

func (s *Scripted) capabilities() []string {
	if s.V.Capabilities != nil {
		return s.V.Capabilities
	}
	return DefaultScriptedCapabilities
}

// rev2Only: IMAP4rev2 announced and IMAP4rev1 not.
func (s *Scripted) rev2Only() bool {
	caps := s.capabilities()
	return slices.Contains(caps, "IMAP4rev2") && !slices.Contains(caps, "IMAP4rev1")
}

// Mount mounts the server's account with imapfs in the foreground, as
// Mount does for a real server: over implicit TLS unless flags say
// otherwise (a SERVER argument among flags replaces the default one).
func (s *Scripted) Mount(t T, flags ...string) *Mounted {
	t.Helper()
	argv := append([]string{Imapfs(t), "-f", "--ca-file", s.TLS.CAFile}, flags...)
	if !slices.ContainsFunc(flags, func(f string) bool { return strings.Contains(f, "://") }) {
		argv = append(argv, s.URL(true))
	}
	return mountImapfs(t, "", argv, s.User.Password)
}

// TunnelCommand is an imapfs --tunnel command that reaches the server's
// plaintext port (through test/netpipe).
func (s *Scripted) TunnelCommand(t T) string {
	t.Helper()
	return fmt.Sprintf("%s %s", Build(t, "./test/netpipe"), s.Addr())
}
