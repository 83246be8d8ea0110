package imapclient

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"imapfs/imapclient/imapwire"
)

// State is the connection state of RFC 3501 section 3 (imaplib's
// IMAP4.state).
type State int

const (
	StateNotAuthenticated State = iota
	StateAuthenticated
	StateSelected
	StateLogout
)

func (s State) String() string {
	return [...]string{"NONAUTH", "AUTH", "SELECTED", "LOGOUT"}[s]
}

// Options tune a Client. The zero value is usable.
type Options struct {
	// Updates receives unilateral data (see Update) on the reader
	// goroutine. It must return quickly and must not call the Client.
	Updates func(Update)
	// Logger receives the protocol trace when Debug > 0 (imaplib's debug):
	// 1 logs command lines and status responses, 2 every line (long ones
	// cut). Passwords, SASL exchanges and tokens are always redacted.
	Logger *slog.Logger
	Debug  int
	// MaxStringSize bounds any single string read into memory, and the
	// body sections of one FETCH response held in memory (not those
	// streamed to FetchOptions.Body); 0 means
	// imapwire.DefaultMaxStringSize.
	MaxStringSize int64
	// MaxResponseSize bounds what one response line may make the client
	// hold besides body sections (a list of flags, UIDs or ranges, quoted
	// strings and literals read as strings, together); 0 means
	// imapwire.DefaultMaxResponseSize. A response beyond a limit fails its
	// command with ErrResponseTooLarge and is skipped; the connection goes
	// on.
	MaxResponseSize int64
	// Counters, if set, counts the commands and bytes of the connection.
	Counters *Counters
}

// Client is one IMAP connection. Its methods may be called from several
// goroutines at once: commands are pipelined, each answered in turn.
type Client struct {
	conn io.ReadWriteCloser
	opts Options
	bw   *bufio.Writer
	dec  *imapwire.Decoder
	tr   *tracer

	writeMu sync.Mutex // one command is written at a time

	mu          sync.Mutex
	state       State
	caps        Capabilities
	enabled     map[string]bool
	mailbox     *MailboxStatus // while a mailbox is selected or being selected
	selectedAt  time.Time      // when the server answered the last SELECT or EXAMINE
	pending     []*command
	nextTag     uint64
	continueCh  chan continuation // where the next "+" goes, while a command is being sent
	bye         *ByeError         // the server's BYE, once it came
	plaintextOK bool              // credentials may go without TLS

	// also under mu
	capsSeen  uint64              // capability lists received (nil caps: not known yet)
	responses map[string][]Update // unilateral data kept for Response

	// what moves on the connection, for idle timeouts (see activity)
	moved   atomic.Int64
	meterMu sync.Mutex
	queued  int64 // the socket's send queue when last looked at

	// the reader goroutine's own, reused from one response to the next
	// so that reading a listing allocates little per message
	untagged        untagged
	fetchCandidates []*command    // room for fetchResponse.candidates
	spareMsg        *FetchMessage // a message handed to FetchOptions.Each, once it returned
	flagLists       flagLists
	streamBuf       []byte // the chunks of a section streamed to its command

	greeted chan struct{} // closed once the greeting is read
	closed  chan struct{} // closed when the connection is gone
	err     error         // why it is gone
}

// continuation is a "+" from the server, or the end of the command that
// waited for one.
type continuation struct {
	text string
	err  error
}

// New starts a Client on an established connection, reads the greeting
// and asks CAPABILITY when the greeting did not say them.
// Most callers use DialTLS, DialStartTLS, DialPlain or DialTunnel instead.
func New(ctx context.Context, conn io.ReadWriteCloser, opts Options) (*Client, error) {
	c := &Client{
		conn:    conn,
		opts:    opts,
		enabled: map[string]bool{},
		greeted: make(chan struct{}),
		closed:  make(chan struct{}),
	}
	c.tr = newTracer(opts.Logger, opts.Debug)
	c.bw = bufio.NewWriterSize(c.tr.writer(meteredWriter{conn, c}), 32<<10)
	c.dec = imapwire.NewDecoder(bufio.NewReaderSize(c.tr.reader(meteredReader{conn, c}), 64<<10))
	c.applyLimits()
	go c.readLoop()
	select {
	case <-c.greeted:
	case <-c.closed:
		return nil, c.Err()
	case <-ctx.Done():
		c.Close()
		return nil, ctx.Err()
	}
	if bye := c.byeReceived(); bye != nil {
		c.Close()
		return nil, &AbortError{Err: bye}
	}
	if _, err := c.knownCapabilities(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// applyLimits gives the decoder the bounds Options set.
func (c *Client) applyLimits() {
	if c.opts.MaxStringSize > 0 {
		c.dec.MaxStringSize = c.opts.MaxStringSize
	}
	if c.opts.MaxResponseSize > 0 {
		c.dec.MaxResponseSize = c.opts.MaxResponseSize
	}
}

// Close closes the connection at once, without LOGOUT. Commands in flight
// fail with ErrAbort.
func (c *Client) Close() error {
	c.fail(errors.New("closed by the client"))
	return nil
}

// Err returns why the connection ended (an error matching ErrAbort), or
// nil while it is usable.
func (c *Client) Err() error {
	select {
	case <-c.closed:
		return c.err
	default:
		return nil
	}
}

// byeReceived returns the server's BYE, or nil before one came.
func (c *Client) byeReceived() *ByeError {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bye
}

// setBye records the server's BYE.
func (c *Client) setBye(bye *ByeError) {
	c.mu.Lock()
	c.bye = bye
	c.mu.Unlock()
}

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.closed }

// fail ends the connection once, failing every pending command.
func (c *Client) fail(reason error) {
	c.mu.Lock()
	select {
	case <-c.closed:
		c.mu.Unlock()
		return
	default:
	}
	if c.bye != nil && !errors.Is(reason, c.bye) {
		reason = c.bye
	}
	c.err = &AbortError{Err: reason}
	if errors.As(reason, new(*AbortError)) {
		c.err = reason
	}
	c.state = StateLogout
	pending := c.pending
	c.pending = nil
	close(c.closed)
	conn := c.conn
	c.mu.Unlock()

	conn.Close()
	for _, cmd := range pending {
		cmd.finish(nil, c.err)
	}
}

// State is the current connection state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

func (c *Client) setState(s State) {
	c.mu.Lock()
	c.state = s
	if s != StateSelected {
		c.mailbox = nil
	}
	c.mu.Unlock()
}

// Capabilities is the set the server announced last (after the greeting,
// STARTTLS and login they change).
func (c *Client) Capabilities() Capabilities {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.caps
}

// Has reports whether the server announced a capability, e.g. "UIDPLUS" or
// "AUTH=PLAIN" (case-insensitively).
func (c *Client) Has(capability string) bool { return c.Capabilities().Has(capability) }

func (c *Client) setCaps(list []string) {
	c.mu.Lock()
	c.caps = newCapabilities(list)
	c.capsSeen++
	c.mu.Unlock()
}

// Enabled reports whether an extension was ENABLEd (e.g. "QRESYNC").
func (c *Client) Enabled(ext string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.enabled[strings.ToUpper(ext)]
}

// Capabilities is a set of capability names, kept in capitals.
type Capabilities map[string]bool

func newCapabilities(list []string) Capabilities {
	caps := Capabilities{}
	for _, name := range list {
		caps[strings.ToUpper(name)] = true
	}
	return caps
}

// Has reports whether the set holds name, compared without case, or
// implies it (IMAP4rev2 implies the extensions it folded in).
func (caps Capabilities) Has(name string) bool {
	name = strings.ToUpper(name)
	return caps[name] || caps.implies(name)
}

// AuthMechanisms lists the SASL mechanisms the server offers (AUTH=...).
func (caps Capabilities) AuthMechanisms() []string {
	var mechs []string
	for name := range caps {
		if m, ok := strings.CutPrefix(name, "AUTH="); ok {
			mechs = append(mechs, m)
		}
	}
	return mechs
}

// deadlineConn is what net.Conn and our tunnel offer to bound a blocked
// write when a context ends.
type deadlineConn interface {
	SetWriteDeadline(time.Time) error
}

var _ deadlineConn = (net.Conn)(nil)
