package imapclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"imapfs/imapclient/imapwire"
)

// ErrPoolClosed: the Pool was closed.
var ErrPoolClosed = errors.New("imap: pool closed")

// ErrUnreachable: the pool has no connection and could not make one (the
// server refuses connections, is down, or cannot be reached); the error
// wraps the last dial's. Callers get it at once while the pool waits
// before its next dial, not at the end of their context.
var ErrUnreachable = errors.New("imap: pool: the server cannot be reached")

// Pool limits and timings.
const (
	// poolMaxShare is how many callers may pipeline commands on one
	// connection at once; beyond it a new connection is worth more.
	poolMaxShare = 8
	// poolBackoffMin and poolBackoffMax bound the wait between failed
	// dials, doubled after each failure, so a down server is not hammered.
	// Callers do not sit out the wait: with no connection open, they fail
	// with ErrUnreachable until a dial succeeds (see unreachableLocked).
	poolBackoffMin = 100 * time.Millisecond
	poolBackoffMax = 5 * time.Second
	// poolDialTimeout bounds one background dial (dial + TLS + login).
	poolDialTimeout = 30 * time.Second
	// poolLogoutTimeout bounds the LOGOUT of each connection in Close.
	poolLogoutTimeout = 2 * time.Second
	// poolLimitWait is how long the pool makes do with the connections it
	// has after the server refused one more (see poolLimited) before it
	// tries one more again: other clients of the account may have left.
	poolLimitWait = 30 * time.Second
)

// PoolConfig configures a Pool.
type PoolConfig struct {
	// Dial makes a new logged-in connection (dial + STARTTLS/TLS + login);
	// the pool calls it with Options it fills in itself (see Updates).
	// Dial may add what the pool leaves alone (Logger, Debug, ...) but
	// must keep Options.Updates.
	Dial func(ctx context.Context, opts Options) (*Client, error)
	// Size is the most connections open at once (>= 1).
	Size int
	// ReadOnly opens every mailbox with EXAMINE, changes too (the
	// Client then refuses them with ErrReadOnly): no SELECT is ever sent.
	ReadOnly bool
	// Updates, if set, receives unilateral data with the name of the
	// mailbox selected on the connection it came from ("" if none). It runs
	// on a reader goroutine: return quickly, do not call the pool.
	Updates func(mailbox string, u Update)
	// Logger for reconnects and failures (nil: discard).
	Logger *slog.Logger
}

// PoolStats counts what a Pool did, for tests and debug output.
type PoolStats struct {
	Open        int // connections open now
	Busy        int // open connections with at least one caller
	Dialing     int // dials in progress
	Dials       int // dials started, successful or not
	FailedDials int // dials that failed
	Selects     int // SELECT and EXAMINE commands sent
	Examines    int // of those, EXAMINE
	Dropped     int // connections discarded because they broke, or their selection did
}

// Pool shares a bounded number of logged-in connections among callers, the
// way the filesystem needs them: connections are made on demand, callers of
// the same mailbox pipeline their commands on one connection, a broken
// connection is replaced on the next use (with backoff between failed
// dials), and every wait respects the caller's context. Its methods may be
// called from several goroutines at once. A function run by the pool may
// call the pool again, but a nested call that needs another connection
// waits for one like any caller: with every connection held by callers
// waiting so, it waits until its context ends.
type Pool struct {
	cfg    PoolConfig
	log    *slog.Logger
	ctx    context.Context // ends at Close: stops background dials
	cancel context.CancelFunc
	dials  sync.WaitGroup

	mu          sync.Mutex
	closed      bool
	conns       []*poolConn
	dialing     int
	waiting     int           // callers waiting for a connection
	starving    int           // of those, callers of a mailbox waiting for an idle connection
	changed     chan struct{} // closed (and replaced) whenever a connection frees up
	backoff     time.Duration // wait after the last failed dial; 0 after a success
	nextDial    time.Time     // no dial before then
	lastDialErr error         // the last dial's error; nil after a success
	lastDialAt  time.Time
	caps        Capabilities
	stats       PoolStats

	// limit is the most connections the server allows now, learnt from a
	// refused login (0: no limit known); it holds until limitUntil.
	limit      int
	limitUntil time.Time
}

// poolConn is one connection and what the pool knows of its use.
type poolConn struct {
	c         *Client
	mailbox   string // open (SELECT or EXAMINE), as far as the pool knows; "" if none
	examined  bool   // mailbox was opened with EXAMINE: for reads only
	selecting bool   // a SELECT, EXAMINE or UNSELECT runs: not shared until it ends
	// retired: a caller found the selection unusable (ErrSelectionGone);
	// nobody else gets the connection, and the last user's release closes it.
	retired  bool
	users    int
	lastUsed time.Time
	// updMailbox is mailbox for the reader goroutine (Updates), which must
	// not take the pool's lock.
	updMailbox atomic.Pointer[string]
}

func (pc *poolConn) setMailbox(name string, examined bool) {
	pc.mailbox, pc.examined = name, examined
	pc.updMailbox.Store(&name)
}

// poolUse is what a caller needs a connection for.
type poolUse int

const (
	useAny    poolUse = iota // no selection
	useRead                  // the mailbox examined (read-only)
	useChange                // the mailbox selected (read-write)
	useOwn                   // an idle connection, whose selection the caller changes at will
)

// NewPool makes a Pool; it dials nothing until a call needs a connection.
func NewPool(cfg PoolConfig) *Pool {
	if cfg.Size < 1 {
		cfg.Size = 1
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Pool{cfg: cfg, log: log, ctx: ctx, cancel: cancel, changed: make(chan struct{})}
}

// Any runs f on some logged-in connection, with or without a mailbox
// examined (LIST, STATUS, CREATE, GETQUOTAROOT...), never one that has a
// mailbox SELECTed: there each command would give the session the \Recent
// flag of new mail. An idle connection that has one is made to leave it
// (UNSELECT) when no other connection will do. f must not change the
// selection. f is not retried: an error matching ErrAbort means the
// connection broke under it, and the next call gets a new one.
func (p *Pool) Any(ctx context.Context, f func(c *Client) error) error {
	pc, leave, err := p.acquire(ctx, "", useAny)
	if err != nil {
		return err
	}
	if leave {
		if err := p.selectOn(ctx, pc, ""); err != nil {
			return err
		}
	}
	err = f(pc.c)
	p.releaseAfter(ctx, pc, err)
	return err
}

// Mailbox runs f, which only reads, on a connection that has mailbox
// open with EXAMINE, giving f the status of the selection as the
// connection knows it now (c.Mailbox()). A read changes nothing on the
// server: SELECT would take the \Recent flag of new messages from every
// other client, as would each later command of a session that has the
// mailbox selected, so reads never share a SELECTed connection. Callers
// that need the same mailbox share a connection: the Client pipelines
// their commands. A connection changes its selected mailbox only when no
// caller is using it. An EXAMINE the server refuses (NO: the mailbox is
// gone) is returned and the connection stays in the pool. f must not
// change the selection and is not retried. f returning an error that
// matches ErrSelectionGone retires the connection (see there).
func (p *Pool) Mailbox(ctx context.Context, mailbox string, f func(c *Client, m *MailboxStatus) error) error {
	return p.mailbox(ctx, mailbox, useRead, f)
}

// MailboxForChange is Mailbox for f that changes the mailbox (STORE,
// EXPUNGE, COPY or MOVE from it): the connection has mailbox open with
// SELECT, which replaces an EXAMINE directly when an idle connection
// has the mailbox examined. A server may still open it read-only
// (m.ReadOnly, for want of rights): the Client then refuses changes with
// ErrReadOnly. A ReadOnly pool EXAMINEs here too.
func (p *Pool) MailboxForChange(ctx context.Context, mailbox string, f func(c *Client, m *MailboxStatus) error) error {
	return p.mailbox(ctx, mailbox, useChange, f)
}

func (p *Pool) mailbox(ctx context.Context, mailbox string, use poolUse, f func(c *Client, m *MailboxStatus) error) error {
	if mailbox == "" {
		return errors.New("imap: pool: no mailbox name")
	}
	mailbox = poolMailboxKey(mailbox)
	pc, needSelect, err := p.acquire(ctx, mailbox, use)
	if err != nil {
		return err
	}
	if needSelect {
		if err := p.selectOn(ctx, pc, mailbox); err != nil {
			return err
		}
	}
	m := pc.c.Mailbox()
	if m == nil {
		p.release(pc)
		if err := pc.c.Err(); err != nil {
			return err
		}
		return fmt.Errorf("imap: pool: %q is no longer selected", mailbox)
	}
	err = f(pc.c, m)
	p.releaseAfter(ctx, pc, err)
	return err
}

// ExamineEach runs Client.ExamineEach on an idle connection of its own
// (dialing one when the pool has room, else waiting for one to become
// idle), which nobody shares until the batch ends: the batch changes the
// selection mailbox after mailbox. Updates names the mailbox selected
// when each unilateral response came, as for any connection (the
// answers to the EXAMINEs under no mailbox); afterwards the connection
// has the last mailbox examined open, for the callers of that mailbox.
func (p *Pool) ExamineEach(ctx context.Context, mailboxes []string, items []string, each func(MailboxFetch)) error {
	if err := checkExamineEach(mailboxes, items, false); err != nil {
		return err // refused by any connection: none is taken for it
	}
	pc, _, err := p.acquire(ctx, "", useOwn)
	if err != nil {
		return err
	}
	sent, err := pc.c.examineEach(ctx, mailboxes, items, each, func(mailbox string) {
		mailbox = poolMailboxKey(mailbox)
		pc.updMailbox.Store(&mailbox)
	})
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.Selects += sent
	p.stats.Examines += sent
	pc.selecting = false
	if err != nil && ctx.Err() != nil {
		// The caller gave up (deadline or cancel) with EXAMINEs of the
		// batch maybe still queued on the server: the selection the
		// client knows now is not the one the next command would meet.
		p.dropLocked(pc, fmt.Errorf("a batch of EXAMINEs ended before its answers: %w", err))
	}
	p.releaseLocked(pc)
	p.broadcastLocked()
	return err
}

// ErrSelectionGone, returned by (or wrapped in the error of) a function
// run by Mailbox, says that the connection's selection can no longer be
// trusted: the server refuses commands on it, as Dovecot does once
// another client deleted the mailbox under the selection. The pool gives
// the connection to no one else and closes it when its last user is done
// with it, so that the other callers' commands on it are not cut off; the
// next caller of the mailbox selects it anew on another connection.
var ErrSelectionGone = errors.New("imap: the selection is no longer usable")

// Unselect makes the idle connections that have mailbox selected leave
// it, before the mailbox is deleted: Dovecot ends a session whose
// selected mailbox disappears, which costs the pool a connection and a new
// login, and some servers refuse to delete a mailbox that is selected.
// Connections in use are left alone. A connection that cannot leave is
// closed (and so dropped): its selection is no longer known.
func (p *Pool) Unselect(ctx context.Context, mailbox string) {
	mailbox = poolMailboxKey(mailbox)
	p.mu.Lock()
	var idle []*poolConn
	for _, pc := range p.conns {
		if pc.mailbox == mailbox && pc.users == 0 && !pc.selecting && !pc.retired {
			// Taken, and no longer offered to callers of the mailbox.
			pc.users++
			pc.setMailbox("", false)
			idle = append(idle, pc)
		}
	}
	p.mu.Unlock()
	// Not cut short by the caller: a command abandoned half-way would
	// leave the selection unknown.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unselectTimeout)
	defer cancel()
	for _, pc := range idle {
		if err := leaveMailbox(ctx, pc.c); err != nil {
			p.log.Debug("imap pool: leaving the mailbox failed; closing the connection", "mailbox", mailbox, "err", err)
			pc.c.Close()
		}
		p.release(pc)
	}
}

// leaveMailbox leaves the selected mailbox without expunging anything:
// UNSELECT (RFC 3691) where the server has it, else EXAMINE of the empty
// name, which no mailbox has. Every server has EXAMINE; it closes the
// previous mailbox without an expunge, and when it fails nothing is
// selected (RFC 3501 6.3.1), which the Client knows. CLOSE is no
// substitute: it expunges \Deleted messages, another client's too.
func leaveMailbox(ctx context.Context, c *Client) error {
	if c.Has("UNSELECT") {
		return c.Unselect(ctx)
	}
	_, err := c.Select(ctx, "", true)
	if errors.Is(err, ErrNo) {
		return nil
	}
	if err == nil {
		return errors.New(`imap: EXAMINE "" succeeded`)
	}
	return err
}

// unselectTimeout bounds Unselect, which its caller cannot cancel.
const unselectTimeout = 10 * time.Second

// poolMailboxKey names INBOX one way: its name is case-insensitive.
func poolMailboxKey(mailbox string) string {
	if strings.EqualFold(mailbox, "INBOX") {
		return "INBOX"
	}
	return mailbox
}

// Capabilities returns the capabilities of the pool's first connection
// (after login), dialing one if there is none yet.
func (p *Pool) Capabilities(ctx context.Context) (Capabilities, error) {
	p.mu.Lock()
	caps, closed := p.caps, p.closed
	p.mu.Unlock()
	if closed {
		return nil, ErrPoolClosed
	}
	if caps == nil {
		err := p.Any(ctx, func(c *Client) error {
			p.mu.Lock()
			if p.caps == nil {
				p.caps = c.Capabilities()
			}
			caps = p.caps
			p.mu.Unlock()
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return maps.Clone(caps), nil
}

// Size is the most connections the pool opens at once.
func (p *Pool) Size() int { return p.cfg.Size }

// Stats returns the pool's counters.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.stats
	st.Open = len(p.conns)
	st.Dialing = p.dialing
	for _, pc := range p.conns {
		if pc.users > 0 || pc.selecting {
			st.Busy++
		}
	}
	return st
}

// Close logs out every connection and makes later calls fail with
// ErrPoolClosed. Calls waiting for a connection return ErrPoolClosed;
// commands still running on a connection fail with ErrAbort.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	conns := p.conns
	p.conns = nil
	p.cancel()
	p.broadcastLocked()
	p.mu.Unlock()

	var wg sync.WaitGroup
	for _, pc := range conns {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), poolLogoutTimeout)
			defer cancel()
			pc.c.Logout(ctx)
			pc.c.Close()
		})
	}
	wg.Wait()
	p.dials.Wait()
	return nil
}

// acquire reserves a connection for one caller. For a read or a change it
// finds one that has mailbox open the way the use needs (see
// examineFor), or one to open it on (needSelect: the caller must then call
// selectOn). Otherwise any connection will do that has no mailbox
// SELECTed, or one whose selection must be left first (needSelect again:
// selectOn with no mailbox).
func (p *Pool) acquire(ctx context.Context, mailbox string, use poolUse) (pc *poolConn, needSelect bool, err error) {
	forMailbox := use == useRead || use == useChange
	examine := p.examineFor(use)
	start := time.Now()
	dialed := false // this caller started a dial and waits for it
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		if p.closed {
			return nil, false, ErrPoolClosed
		}
		if err := ctx.Err(); err != nil {
			return nil, false, p.waitErrLocked(err)
		}
		p.pruneLocked()
		var wait bool
		switch {
		case forMailbox:
			pc, needSelect, wait = p.pickForMailboxLocked(mailbox, examine)
		case use == useOwn:
			pc, needSelect = p.pickIdleLocked(), true
		default:
			pc, needSelect = p.pickAnyLocked()
		}
		if pc != nil {
			pc.users++
			if needSelect {
				pc.selecting = true
				pc.setMailbox(mailbox, examine && mailbox != "")
				// The answer to the SELECT (EXISTS, FLAGS...) describes
				// the mailbox as opened, not a change since: it goes to
				// Updates under no mailbox (see selectOn).
				none := ""
				pc.updMailbox.Store(&none)
			}
			return pc, needSelect, nil
		}
		if err := p.unreachableLocked(start, dialed); err != nil {
			return nil, false, err
		}
		var retry *time.Timer
		switch {
		case !wait && p.canDialLocked():
			if d := time.Until(p.nextDial); d > 0 {
				retry = time.NewTimer(d) // the backoff ends: dial then
			} else {
				p.startDialLocked()
				dialed = true
			}
		case (forMailbox || use == useOwn) && !wait:
			// Every connection is busy and no more may be made (the
			// pool is full, or the server allows no more): this caller
			// needs one to become idle, which it would never do while
			// others kept joining its callers (see pickForMailboxLocked
			// and pickAnyLocked).
			p.starving++
			p.waitLocked(ctx, nil)
			p.starving--
			continue
		}
		p.waitLocked(ctx, retry)
	}
}

// unreachableLocked is the error of a caller that no open connection can
// serve when waiting would not help. A refusal (a wrong password, say)
// will not go away by waiting for the caller's deadline: it is reported
// until the backoff allows another try. A server that cannot be reached
// is reported (ErrUnreachable) when the pool has no connection at all
// and either a dial failed since the caller came, or the caller did not
// start the dial that runs now, or the backoff after the last failure
// still runs: only the caller whose dial tries the server again waits
// for it, so that while the server is away every call fails in the time
// of one dial at most, most of them at once.
func (p *Pool) unreachableLocked(start time.Time, dialed bool) error {
	err := p.lastDialErr
	switch {
	case err == nil:
		return nil
	case poolPermanent(err):
		if p.lastDialAt.After(start) || start.Before(p.nextDial) {
			return err
		}
		return nil
	case len(p.conns) > 0:
		return nil // callers wait for those to free up
	case p.lastDialAt.After(start) || !dialed && (p.dialing > 0 || time.Now().Before(p.nextDial)):
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	return nil
}

// waitLocked waits, without the lock, until a connection frees up, the
// retry timer (if any) fires or ctx ends.
func (p *Pool) waitLocked(ctx context.Context, retry *time.Timer) {
	var fired <-chan time.Time
	if retry != nil {
		defer retry.Stop()
		fired = retry.C
	}
	changed := p.changed
	p.waiting++
	p.mu.Unlock()
	select {
	case <-changed:
	case <-fired:
	case <-ctx.Done():
	}
	p.mu.Lock()
	p.waiting--
}

// examineFor: the use opens its mailbox with EXAMINE (reads, and
// everything in a ReadOnly pool), not SELECT.
func (p *Pool) examineFor(use poolUse) bool {
	return use != useChange || p.cfg.ReadOnly
}

// pickForMailboxLocked prefers a connection that has mailbox open as
// examine says (EXAMINE or SELECT) and room for one more caller, then an
// idle one to open it on (one that has it open the other way too: SELECT
// and EXAMINE replace any selection directly). wait says a connection is
// opening mailbox that way right now: better to wait and share it than to
// open the same mailbox twice.
func (p *Pool) pickForMailboxLocked(mailbox string, examine bool) (pc *poolConn, needSelect, wait bool) {
	var idle *poolConn
	for _, c := range p.conns {
		fits := c.mailbox == mailbox && c.examined == examine
		switch {
		case c.retired:
		case fits && c.selecting && c.users < poolMaxShare:
			wait = true
		case fits && !c.selecting && c.users < poolMaxShare && (c.users == 0 || p.starving == 0):
			return c, false, false
		case c.users == 0 && !c.selecting && (idle == nil || poolBetterIdle(c, idle)):
			idle = c
		}
	}
	if wait {
		return nil, false, true
	}
	if idle != nil {
		return idle, true, false
	}
	return nil, false, false
}

// pickIdleLocked returns an idle connection, the best to change the
// selection of (see poolBetterIdle), or nil.
func (p *Pool) pickIdleLocked() *poolConn {
	var idle *poolConn
	for _, c := range p.conns {
		if !c.retired && !c.selecting && c.users == 0 && (idle == nil || poolBetterIdle(c, idle)) {
			idle = c
		}
	}
	return idle
}

// poolBetterIdle prefers re-selecting a connection with nothing selected,
// then the one unused longest, keeping recent selections for their callers.
func poolBetterIdle(a, b *poolConn) bool {
	if (a.mailbox == "") != (b.mailbox == "") {
		return a.mailbox == ""
	}
	return a.lastUsed.Before(b.lastUsed)
}

// pickAnyLocked prefers an idle connection with no mailbox SELECTed, then,
// unless a new one may be dialed now, the least busy such one with room,
// then an idle one whose selection it must leave (leave).
func (p *Pool) pickAnyLocked() (pc *poolConn, leave bool) {
	var best, selected *poolConn
	for _, c := range p.conns {
		if c.retired || c.selecting || c.users >= poolMaxShare || (c.users > 0 && p.starving > 0) {
			continue // a busy one is left to empty for a starving caller
		}
		if c.mailbox != "" && !c.examined {
			if c.users == 0 && (selected == nil || c.lastUsed.Before(selected.lastUsed)) {
				selected = c
			}
			continue
		}
		if c.users == 0 {
			return c, false
		}
		if best == nil || c.users < best.users {
			best = c
		}
	}
	if p.canDialLocked() && !time.Now().Before(p.nextDial) {
		return nil, false
	}
	if best != nil {
		return best, false
	}
	return selected, selected != nil
}

// canDialLocked: there is room for a connection and a waiting caller with
// no dial under way for it. While the server fails, one dial at a time.
func (p *Pool) canDialLocked() bool {
	if len(p.conns)+p.dialing >= p.cfg.Size {
		return false
	}
	if p.limit > 0 && len(p.conns)+p.dialing >= p.limit && time.Now().Before(p.limitUntil) {
		return false
	}
	if p.lastDialErr != nil {
		return p.dialing == 0
	}
	return p.dialing <= p.waiting
}

func (p *Pool) startDialLocked() {
	p.dialing++
	p.stats.Dials++
	p.dials.Add(1)
	go p.dial()
}

// dial makes a connection in the background, with the pool's context (not
// a caller's: a caller that gives up leaves the connection to the next).
func (p *Pool) dial() {
	defer p.dials.Done()
	ctx, cancel := context.WithTimeout(p.ctx, poolDialTimeout)
	pc, c, err := p.dialConn(ctx)
	cancel()

	p.mu.Lock()
	defer p.mu.Unlock()
	p.dialing--
	defer p.broadcastLocked()
	if p.closed {
		if c != nil {
			c.Close()
		}
		return
	}
	if err != nil && poolLimited(err) && len(p.conns) > 0 {
		// Not a failure: the server allows no more connections than those
		// open. Callers share them and wait for them, which needs no
		// error and no backoff.
		p.stats.FailedDials++
		p.limit, p.limitUntil = len(p.conns), time.Now().Add(poolLimitWait)
		p.log.Info("imap pool: the server allows no more connections; using those open", "open", len(p.conns), "err", err, "retry_after", poolLimitWait)
		return
	}
	if err != nil {
		p.stats.FailedDials++
		p.backoff = min(max(2*p.backoff, poolBackoffMin), poolBackoffMax)
		p.nextDial = time.Now().Add(p.backoff)
		// At Warn once per outage (and when the reason changes), not
		// every few seconds while it lasts.
		level := slog.LevelWarn
		if p.lastDialErr != nil && p.lastDialErr.Error() == err.Error() {
			level = slog.LevelDebug
		}
		p.lastDialErr, p.lastDialAt = err, time.Now()
		p.log.Log(p.ctx, level, "imap pool: connecting failed", "err", err, "retry_after", p.backoff)
		return
	}
	p.connectedLocked(pc, c)
}

// connectedLocked makes a connection just logged in one of the pool's:
// the server is reachable and lets it in, whatever failed before.
func (p *Pool) connectedLocked(pc *poolConn, c *Client) {
	p.reachedLocked()
	p.addLocked(pc, c)
}

// reachedLocked records that a login succeeded: the server is reachable
// and lets us in, whatever the dials before said.
func (p *Pool) reachedLocked() {
	if p.lastDialErr != nil {
		p.log.Info("imap pool: reconnected")
	}
	p.backoff, p.nextDial, p.lastDialErr = 0, time.Time{}, nil
	p.limit = 0
}

// dialConn logs in one connection with the pool's Dial, its updates
// routed by the mailbox the pool will know it to have open.
func (p *Pool) dialConn(ctx context.Context) (*poolConn, *Client, error) {
	pc := &poolConn{}
	pc.setMailbox("", false)
	var opts Options
	if up := p.cfg.Updates; up != nil {
		opts.Updates = func(u Update) { up(*pc.updMailbox.Load(), u) }
	}
	c, err := p.cfg.Dial(ctx, opts)
	if err == nil && c == nil {
		err = errors.New("imap: pool: Dial returned no connection")
	}
	return pc, c, err
}

// addLocked makes a logged-in connection one of the pool's.
func (p *Pool) addLocked(pc *poolConn, c *Client) {
	if p.caps == nil {
		p.caps = c.Capabilities()
	}
	pc.c = c
	pc.lastUsed = time.Now()
	p.conns = append(p.conns, pc)
}

// Connect logs in one connection now, in the caller's goroutine, and
// makes it the pool's: a caller that must know whether the server lets
// it in (a mount, before it goes live) learns it from the connection that
// then serves, instead of logging in twice. The error is Dial's. A pool
// that has as many connections as its size by then closes the new one.
func (p *Pool) Connect(ctx context.Context) error {
	pc, c, err := p.dialConn(ctx)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return ErrPoolClosed
	}
	p.stats.Dials++
	if len(p.conns)+p.dialing >= p.cfg.Size {
		p.reachedLocked() // callers must not be told the server is away
		c.Close()
		return nil
	}
	p.connectedLocked(pc, c)
	p.broadcastLocked()
	return nil
}

// poolPermanent tells a refusal by the server (a NO or BAD to the login,
// say) from a failure to reach it, or to be let in now.
func poolPermanent(err error) bool {
	return (errors.Is(err, ErrNo) || errors.Is(err, ErrBad)) && !poolLimited(err)
}

// poolLimited: the server refused a login because the account has as many
// connections as it allows (RFC 5530 LIMIT, or UNAVAILABLE; Dovecot's
// mail_max_userip_connections), which says "fewer connections", not
// "cannot connect".
func poolLimited(err error) bool {
	var st *StatusError
	return errors.As(err, &st) && (st.HasCode(imapwire.CodeLimit) || st.HasCode(imapwire.CodeUnavailable))
}

// waitErrLocked is the error of a caller whose context ended while it
// waited: the last dial's error too when the server cannot be reached.
func (p *Pool) waitErrLocked(ctxErr error) error {
	switch {
	case p.lastDialErr == nil:
	case poolPermanent(p.lastDialErr):
		return fmt.Errorf("imap: pool: cannot connect: %w (gave up: %w)", p.lastDialErr, ctxErr)
	default:
		return fmt.Errorf("%w: %w (gave up: %w)", ErrUnreachable, p.lastDialErr, ctxErr)
	}
	return fmt.Errorf("imap: pool: waiting for a connection: %w", ctxErr)
}

// selectOn opens mailbox, with SELECT or EXAMINE as acquire decided
// (pc.examined), on a connection acquire reserved for it, or leaves the
// selection when mailbox is "". On failure the caller's reservation is
// released and the error returned.
func (p *Pool) selectOn(ctx context.Context, pc *poolConn, mailbox string) error {
	var err error
	if mailbox == "" {
		err = leaveMailbox(ctx, pc.c)
	} else {
		_, err = pc.c.Select(ctx, mailbox, pc.examined)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if mailbox != "" {
		p.stats.Selects++
		if pc.examined {
			p.stats.Examines++
		}
	}
	pc.selecting = false
	defer p.broadcastLocked()
	if err != nil {
		pc.setMailbox("", false)
		switch {
		case poolTimedOut(ctx, err):
			p.dropLocked(pc, fmt.Errorf("no answer before the caller's deadline: %w", err))
		case mailbox == "":
			p.dropLocked(pc, fmt.Errorf("leaving the selected mailbox failed: %w", err))
		}
		p.releaseLocked(pc)
		return err
	}
	pc.updMailbox.Store(&mailbox) // from now on, changes of mailbox
	return nil
}

func (p *Pool) release(pc *poolConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.releaseLocked(pc)
	p.broadcastLocked()
}

// releaseAfter ends a caller's use of pc after its call returned err. A
// call that ran out of time because the server did not answer (it stalls,
// or the link does) leaves the connection behind: every caller queued on
// it would wait as long, so it is dropped and the next callers get a new
// one. Callers still using it fail with ErrAbort rather than wait for
// their own deadline. (The Client itself would stay in step, dropping the
// late answers, if they ever came.)
func (p *Pool) releaseAfter(ctx context.Context, pc *poolConn, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if poolTimedOut(ctx, err) {
		p.dropLocked(pc, fmt.Errorf("no answer before the caller's deadline: %w", err))
	}
	if errors.Is(err, ErrSelectionGone) && !pc.retired {
		pc.retired = true
		p.log.Info("imap pool: the selection is no longer usable; retiring the connection", "mailbox", pc.mailbox, "err", err)
	}
	p.releaseLocked(pc)
	p.broadcastLocked()
}

// poolTimedOut: the call failed because its context's deadline passed.
// A caller that cancels (an interrupted read) says nothing about the
// connection and keeps it.
func poolTimedOut(ctx context.Context, err error) bool {
	return errors.Is(err, context.DeadlineExceeded) && errors.Is(ctx.Err(), context.DeadlineExceeded)
}

// releaseLocked ends one caller's use of pc, dropping it if it broke or
// was retired and its last user is done, and keeping the pool's idea of
// its selection true to the Client's.
func (p *Pool) releaseLocked(pc *poolConn) {
	pc.users--
	pc.lastUsed = time.Now()
	if err := pc.c.Err(); err != nil {
		p.dropLocked(pc, err)
		return
	}
	if pc.retired && pc.users == 0 {
		p.removeLocked(pc)
		return
	}
	if pc.selecting {
		return
	}
	name, examined := "", false
	if m := pc.c.Mailbox(); m != nil {
		name, examined = poolMailboxKey(m.Name), m.examined
	}
	if name != pc.mailbox || examined != pc.examined {
		pc.setMailbox(name, examined)
	}
}

// pruneLocked drops connections that broke while nobody used them.
func (p *Pool) pruneLocked() {
	for _, pc := range slices.Clone(p.conns) {
		if err := pc.c.Err(); err != nil {
			p.dropLocked(pc, err)
		}
	}
}

// dropLocked removes a broken connection; the next call that needs one
// dials a replacement. Callers still using it see its error themselves.
func (p *Pool) dropLocked(pc *poolConn, err error) {
	if p.removeLocked(pc) {
		p.log.Warn("imap pool: connection lost", "mailbox", pc.mailbox, "err", err)
	}
}

// removeLocked closes pc and takes it out of the pool; false if it was
// no longer there (already dropped, or the pool is closed).
func (p *Pool) removeLocked(pc *poolConn) bool {
	i := slices.Index(p.conns, pc)
	if i < 0 {
		return false
	}
	p.conns = slices.Delete(p.conns, i, i+1)
	p.stats.Dropped++
	pc.c.Close()
	return true
}

// broadcastLocked wakes every waiting caller to look again.
func (p *Pool) broadcastLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}
