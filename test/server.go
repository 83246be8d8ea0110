package test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

// User is an account on a test server.
type User struct {
	Name     string
	Password string
}

// Message is mail to seed: the exact bytes, the flags and the INTERNALDATE
// (zero means "now").
type Message struct {
	Body  []byte
	Flags []string
	Date  time.Time
}

// StoredMessage is what the server itself says it holds for a message, read
// without imapfs's client.
type StoredMessage struct {
	UID          uint32
	Size         int64     // RFC822.SIZE
	InternalDate time.Time // to the second
	Flags        []string  // sorted, without \Recent
}

// Server is a private IMAP server on loopback.
type Server struct {
	Kind      string // "dovecot" or "cyrus"
	Host      string // always 127.0.0.1
	Port      int    // IMAP: STARTTLS offered, plaintext LOGIN allowed
	TLSPort   int    // IMAP over implicit TLS
	TLS       TLSFiles
	Delimiter string // the hierarchy delimiter of personal mailboxes
	Alice     User
	Bob       User
	Admin     User // Dovecot: master user ("alice*admin"); Cyrus: admin
	Dir       string

	backend backend
	proc    *process
	noTLS   bool // a server without TLS: both ports speak plaintext
}

// Pid is the server's process (Dovecot's master, Cyrus's), whose
// children serve the connections; 0 for a server that has none of its own.
func (s *Server) Pid() int {
	if s.proc == nil {
		return 0
	}
	return s.proc.cmd.Process.Pid
}

// backend is what differs between the server kinds: accounts, and the state
// read back through the server's own tools.
type backend interface {
	addUser(u User, quota Quota) error
	messages(u User, mailbox string) ([]StoredMessage, error)
	body(u User, mailbox string, uid uint32) ([]byte, error)
	logFile() string
}

// Quota is an account's limits: STORAGE in KiB and MESSAGE in messages.
type Quota struct {
	StorageKiB int64
	Messages   int64
}

// DefaultQuota is large enough never to get in a test's way yet visible to
// GETQUOTAROOT.
var DefaultQuota = Quota{StorageKiB: 4 << 20, Messages: 1_000_000}

// Addr is the STARTTLS/plaintext address.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// TLSAddr is the implicit-TLS address.
func (s *Server) TLSAddr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.TLSPort)) }

// URL is the imapfs SERVER argument for user u: imaps:// when implicitTLS,
// else imap:// (STARTTLS).
func (s *Server) URL(u User, implicitTLS bool) string {
	if implicitTLS {
		return "imaps://" + u.Name + "@" + s.TLSAddr()
	}
	return "imap://" + u.Name + "@" + s.Addr()
}

// Personal returns the server's name of a personal mailbox given its path
// below the user's top level: ("Work", "2025") is "Work/2025" on Dovecot and
// "INBOX.Work.2025" on Cyrus, where personal mailboxes live under INBOX.
func (s *Server) Personal(path ...string) string {
	name := ""
	if s.Kind == "cyrus" {
		name = "INBOX"
		path = append([]string{""}, path...)
	}
	for i, p := range path {
		if i > 0 {
			name += s.Delimiter
		}
		name += p
	}
	return name
}

var userSerial atomic.Int64

// NewUser creates a fresh account with DefaultQuota, so that tests sharing a
// server never see each other's mail.
func (s *Server) NewUser(t T) User {
	t.Helper()
	return s.NewUserWithQuota(t, DefaultQuota)
}

// NewUserWithQuota creates a fresh account with the given limits.
func (s *Server) NewUserWithQuota(t T, q Quota) User {
	t.Helper()
	n := userSerial.Add(1)
	u := User{Name: fmt.Sprintf("user%d", n), Password: fmt.Sprintf("pw-%d-secret", n)}
	if err := s.backend.addUser(u, q); err != nil {
		t.Fatalf("%s: add user %s: %v", s.Kind, u.Name, err)
	}
	return u
}

// session logs u in over implicit TLS with the harness's own raw client.
func (s *Server) session(u User) (*Raw, error) {
	sec := ImplicitTLS
	if s.noTLS {
		sec = Plaintext
	}
	c, err := DialRaw(s, sec)
	if err != nil {
		return nil, err
	}
	if err := c.Login(u); err != nil {
		c.conn.Close()
		return nil, err
	}
	return c, nil
}

// Session is a Raw session of u over implicit TLS, closed when the test ends.
func (s *Server) Session(t T, u User) *Raw {
	t.Helper()
	c, err := s.session(u)
	if err != nil {
		t.Fatalf("%s: log in as %s: %v", s.Kind, u.Name, err)
	}
	t.Cleanup(c.Close)
	return c
}

// CreateMailbox creates a mailbox (UTF-8 name, server delimiter) for u.
func (s *Server) CreateMailbox(t T, u User, mailbox string) {
	t.Helper()
	c, err := s.session(u)
	if err != nil {
		t.Fatalf("%s: %v", s.Kind, err)
	}
	defer c.Close()
	if _, _, err := c.Run("CREATE " + quote(encodeMUTF7(mailbox))); err != nil {
		t.Fatalf("%s: create %q: %v", s.Kind, mailbox, err)
	}
}

// Seed appends messages to u's mailbox and returns their UIDs.
func (s *Server) Seed(t T, u User, mailbox string, msgs ...Message) []uint32 {
	t.Helper()
	c, err := s.session(u)
	if err != nil {
		t.Fatalf("%s: %v", s.Kind, err)
	}
	defer c.Close()
	uids := make([]uint32, 0, len(msgs))
	for _, m := range msgs {
		uid, err := c.appendMessage(mailbox, m)
		if err != nil {
			t.Fatalf("%s: seed %q: %v", s.Kind, mailbox, err)
		}
		uids = append(uids, uid)
	}
	return uids
}

// Messages returns what the server holds in u's mailbox, sorted by UID,
// read through the server's own tools, not IMAP.
func (s *Server) Messages(t T, u User, mailbox string) []StoredMessage {
	t.Helper()
	msgs, err := s.backend.messages(u, mailbox)
	if err != nil {
		t.Fatalf("%s: read %s's %q: %v", s.Kind, u.Name, mailbox, err)
	}
	slices.SortFunc(msgs, func(a, b StoredMessage) int { return int(a.UID) - int(b.UID) })
	for i := range msgs {
		msgs[i].Flags = slices.DeleteFunc(msgs[i].Flags, func(f string) bool { return f == `\Recent` })
		slices.Sort(msgs[i].Flags)
	}
	return msgs
}

// Body returns the exact bytes the server stores for a message, read
// through the server's own tools or files, not IMAP.
func (s *Server) Body(t T, u User, mailbox string, uid uint32) []byte {
	t.Helper()
	b, err := s.backend.body(u, mailbox, uid)
	if err != nil {
		t.Fatalf("%s: read %s's %q UID %d: %v", s.Kind, u.Name, mailbox, uid, err)
	}
	return b
}

// LogTail returns the end of the server's log, for failure messages.
func (s *Server) LogTail() string { return tail(s.backend.logFile(), 4000) }

// freePorts finds n distinct free loopback ports. Another process may take
// one before the server binds it; start retries with new ports when that
// happens.
func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// waitGreeting waits until addr answers with an IMAP greeting (over TLS when
// tlsConfig is set), or the process exits, or the deadline passes.
func waitGreeting(addr string, tlsConfig *tls.Config, p *process, deadline time.Duration) error {
	end := time.Now().Add(deadline)
	for {
		if p.exited() {
			return fmt.Errorf("%s exited: %v", p.name, p.waitErr)
		}
		if greeted(addr, tlsConfig) {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("%s: no IMAP greeting on %s after %v", p.name, addr, deadline)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func greeted(addr string, tlsConfig *tls.Config) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if tlsConfig != nil {
		conn = tls.Client(conn, tlsConfig)
	}
	buf := make([]byte, 4)
	_, err = io.ReadFull(conn, buf)
	return err == nil && string(buf) == "* OK"
}

// waitServer waits for both of s's listeners.
func (s *Server) waitServer(p *process) error {
	cfg, err := tlsConfigFor(s.TLS.CAFile)
	if err != nil {
		return err
	}
	if err := waitGreeting(s.Addr(), nil, p, 15*time.Second); err != nil {
		return err
	}
	if s.noTLS {
		cfg = nil
	}
	return waitGreeting(s.TLSAddr(), cfg, p, 15*time.Second)
}
