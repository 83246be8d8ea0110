package imapclient_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"imapfs/imapclient"
	"imapfs/imapclient/imapwire"
	"imapfs/test"
)

// poolDialer logs u in over implicit TLS, as the filesystem's Dial does.
func poolDialer(t *testing.T, s *test.Server, u test.User) func(context.Context, imapclient.Options) (*imapclient.Client, error) {
	cfg := tlsConfig(t, s)
	return func(ctx context.Context, opts imapclient.Options) (*imapclient.Client, error) {
		c, err := imapclient.DialTLS(ctx, s.TLSAddr(), cfg, opts)
		if err != nil {
			return nil, err
		}
		if err := c.Login(ctx, u.Name, u.Password); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
}

// poolOpen makes a pool for u, closed when the test ends.
func poolOpen(t *testing.T, s *test.Server, u test.User, cfg imapclient.PoolConfig) *imapclient.Pool {
	cfg.Dial = poolDialer(t, s, u)
	p := imapclient.NewPool(cfg)
	t.Cleanup(func() { p.Close() })
	return p
}

// poolUIDs fetches the UIDs of the selected mailbox.
func poolUIDs(ctx context.Context, c *imapclient.Client) ([]uint32, error) {
	all, _ := imapclient.ParseSeqSet("1:*")
	msgs, err := c.UIDFetch(ctx, all, []string{imapclient.FetchUID}, nil)
	if err != nil {
		return nil, err
	}
	var uids []uint32
	for _, m := range msgs {
		uids = append(uids, m.UID)
	}
	slices.Sort(uids)
	return uids, nil
}

func poolStoredUIDs(t *testing.T, s *test.Server, u test.User, mailbox string) []uint32 {
	var uids []uint32
	for _, m := range s.Messages(t, u, mailbox) {
		uids = append(uids, m.UID)
	}
	return uids
}

// Many callers on several mailboxes through two connections all get their
// own mailbox's messages.
func TestPoolConcurrentMailboxes(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		mailboxes := []string{"INBOX", s.Personal("Alpha"), s.Personal("Beta"), s.Personal("Gamma")}
		want := map[string][]uint32{}
		for i, mb := range mailboxes {
			if mb != "INBOX" {
				s.CreateMailbox(t, u, mb)
			}
			for j := range i + 2 {
				s.Seed(t, u, mb, test.Message{Body: fmt.Appendf(nil, "Subject: %s %d\r\n\r\nbody\r\n", mb, j)})
			}
			want[mb] = poolStoredUIDs(t, s, u, mb)
		}
		p := poolOpen(t, s, u, imapclient.PoolConfig{Size: 2})
		ctx := ctxT(t)
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		for round := range 6 {
			for _, mb := range mailboxes {
				wg.Go(func() {
					err := p.Mailbox(ctx, mb, func(c *imapclient.Client, m *imapclient.MailboxStatus) error {
						if m.Name != mb || int(m.Exists) != len(want[mb]) || !m.ReadOnly {
							return fmt.Errorf("status %+v", m)
						}
						uids, err := poolUIDs(ctx, c)
						if err != nil {
							return err
						}
						if !slices.Equal(uids, want[mb]) {
							return fmt.Errorf("UIDs %v, server has %v", uids, want[mb])
						}
						return nil
					})
					if err != nil {
						errs <- fmt.Errorf("round %d %s: %w", round, mb, err)
					}
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		st := p.Stats()
		if st.Open < 1 || st.Open > 2 || st.Dials > 2 || st.FailedDials != 0 || st.Busy != 0 || st.Selects < len(mailboxes) {
			t.Errorf("stats %+v", st)
		}
		caps, err := p.Capabilities(ctx)
		if err != nil || !caps.Has("IMAP4rev1") || !caps.Has("ACL") {
			t.Errorf("capabilities %v, %v", caps, err)
		}
	})
}

// Callers of the same mailbox run at the same time on one connection,
// selected once; another mailbox then gets a connection of its own.
func TestPoolSharesSelectedMailbox(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		seedMessages(t, s, u, 3)
		other := s.Personal("Other")
		s.CreateMailbox(t, u, other)
		p := poolOpen(t, s, u, imapclient.PoolConfig{Size: 4})
		ctx := ctxT(t)
		if err := p.Mailbox(ctx, "INBOX", func(*imapclient.Client, *imapclient.MailboxStatus) error { return nil }); err != nil {
			t.Fatal(err)
		}
		const callers = 6
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			clients = map[*imapclient.Client]bool{}
			inside  = make(chan struct{}, callers)
			proceed = make(chan struct{})
		)
		for range callers {
			wg.Go(func() {
				err := p.Mailbox(ctx, "inbox", func(c *imapclient.Client, m *imapclient.MailboxStatus) error {
					mu.Lock()
					clients[c] = true
					mu.Unlock()
					inside <- struct{}{}
					<-proceed
					_, err := poolUIDs(ctx, c)
					return err
				})
				if err != nil {
					t.Error(err)
				}
			})
		}
		// All callers are inside f at once: they share, nobody waits.
		for range callers {
			select {
			case <-inside:
			case <-time.After(10 * time.Second):
				t.Fatal("callers of one mailbox did not run together")
			}
		}
		if st := p.Stats(); st.Open != 1 || st.Busy != 1 || st.Selects != 1 || st.Dials != 1 {
			t.Errorf("while shared: %+v", st)
		}
		// The busy connection is not re-selected: Other gets a new one.
		err := p.Mailbox(ctx, other, func(c *imapclient.Client, m *imapclient.MailboxStatus) error {
			if clients[c] || m.Name != other {
				return fmt.Errorf("another mailbox on the shared connection: %+v", m)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
		close(proceed)
		wg.Wait()
		if len(clients) != 1 {
			t.Errorf("%d connections for one mailbox", len(clients))
		}
		if st := p.Stats(); st.Open != 2 || st.Busy != 0 || st.Selects != 2 {
			t.Errorf("after: %+v", st)
		}
	})
}

// A SELECT refused with NO is the caller's error; the connection serves on.
func TestPoolMissingMailbox(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		seedMessages(t, s, u, 2)
		p := poolOpen(t, s, u, imapclient.PoolConfig{Size: 1})
		ctx := ctxT(t)
		called := false
		err := p.Mailbox(ctx, s.Personal("Missing"), func(*imapclient.Client, *imapclient.MailboxStatus) error {
			called = true
			return nil
		})
		if !errors.Is(err, imapclient.ErrNo) || errors.Is(err, imapclient.ErrAbort) || called {
			t.Fatalf("missing mailbox: %v (f called: %v)", err, called)
		}
		err = p.Mailbox(ctx, "INBOX", func(c *imapclient.Client, m *imapclient.MailboxStatus) error {
			uids, err := poolUIDs(ctx, c)
			if err == nil && !slices.Equal(uids, poolStoredUIDs(t, s, u, "INBOX")) {
				err = fmt.Errorf("UIDs %v", uids)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Any(ctx, func(c *imapclient.Client) error { return c.Noop(ctx) }); err != nil {
			t.Fatal(err)
		}
		var argErr *imapwire.ArgumentError
		if err := p.Mailbox(ctx, "INBOX\r\nX DELETE INBOX", nil); !errors.As(err, &argErr) {
			t.Errorf("hostile name: %v, want an ArgumentError", err)
		}
		if st := p.Stats(); st.Open != 1 || st.Dials != 1 || st.Dropped != 0 || st.Selects != 3 {
			t.Errorf("stats %+v", st)
		}
	})
}

// A read-only pool EXAMINEs, for changes too: they are refused before
// they are sent.
func TestPoolReadOnly(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		seedMessages(t, s, u, 1)
		before := s.Messages(t, u, "INBOX")
		p := poolOpen(t, s, u, imapclient.PoolConfig{Size: 1, ReadOnly: true})
		ctx := ctxT(t)
		err := p.MailboxForChange(ctx, "INBOX", func(c *imapclient.Client, m *imapclient.MailboxStatus) error {
			if !m.ReadOnly {
				return fmt.Errorf("not read-only: %+v", m)
			}
			set, _ := imapclient.ParseSeqSet(fmt.Sprint(before[0].UID))
			_, err := c.UIDStore(ctx, set, imapclient.StoreAdd, []string{`\Deleted`}, nil)
			if !errors.Is(err, imapclient.ErrReadOnly) {
				return fmt.Errorf("STORE on EXAMINE: %v, want ErrReadOnly", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if after := s.Messages(t, u, "INBOX"); !slices.Equal(after[0].Flags, before[0].Flags) {
			t.Errorf("flags changed: %v -> %v", before[0].Flags, after[0].Flags)
		}
		if st := p.Stats(); st.Selects != 1 || st.Examines != 1 {
			t.Errorf("stats %+v, want one EXAMINE and no SELECT", st)
		}
	})
}

// Reads EXAMINE, and leave the \Recent flag of new mail to whichever
// client selects the mailbox; a change after them SELECTs on the same
// (idle) connection, directly over the EXAMINE; Any does not run on a
// SELECTed mailbox.
func TestPoolReadsExamineChangesSelect(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		uids := s.Seed(t, u, "INBOX", test.Message{Body: []byte("Subject: new\r\n\r\nnew\r\n")})
		p := poolOpen(t, s, u, imapclient.PoolConfig{Size: 1})
		ctx := ctxT(t)
		var reader *imapclient.Client
		err := p.Mailbox(ctx, "INBOX", func(c *imapclient.Client, m *imapclient.MailboxStatus) error {
			reader = c
			if !m.ReadOnly {
				return fmt.Errorf("a read opened the mailbox read-write: %+v", m)
			}
			if err := c.Noop(ctx); err != nil {
				return err
			}
			_, err := poolUIDs(ctx, c)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if st := p.Stats(); st.Selects != 1 || st.Examines != 1 {
			t.Errorf("after the read: %+v, want one EXAMINE", st)
		}
		// Another client's EXAMINE (which takes no \Recent itself) still
		// counts the message as recent.
		raw := s.Session(t, u)
		untagged, _, err := raw.Run("EXAMINE INBOX")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(untagged, "* 1 RECENT") {
			t.Errorf("after a read through the pool, another client sees %q, want * 1 RECENT", untagged)
		}
		set, _ := imapclient.ParseSeqSet(fmt.Sprint(uids[0]))
		err = p.MailboxForChange(ctx, "INBOX", func(c *imapclient.Client, m *imapclient.MailboxStatus) error {
			if c != reader {
				return errors.New("the change did not reuse the idle connection")
			}
			if m.ReadOnly {
				return fmt.Errorf("a change opened the mailbox read-only: %+v", m)
			}
			_, err := c.UIDStore(ctx, set, imapclient.StoreAdd, []string{`\Seen`}, &imapclient.StoreOptions{Silent: true})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if st := p.Stats(); st.Selects != 2 || st.Examines != 1 || st.Dials != 1 {
			t.Errorf("after the change: %+v, want one EXAMINE and one SELECT on one connection", st)
		}
		if got := s.Messages(t, u, "INBOX"); len(got) != 1 || !slices.Contains(got[0].Flags, `\Seen`) {
			t.Errorf("after the change the server holds %+v, want \\Seen", got)
		}
		// Any leaves the SELECT first: a command there would give the
		// session the \Recent flag of new mail.
		err = p.Any(ctx, func(c *imapclient.Client) error {
			if m := c.Mailbox(); m != nil {
				return fmt.Errorf("Any on a connection with a mailbox selected: %+v", m)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// And a read after the change EXAMINEs again.
		err = p.Mailbox(ctx, "INBOX", func(c *imapclient.Client, m *imapclient.MailboxStatus) error {
			if !m.ReadOnly {
				return fmt.Errorf("a read after a change shares its SELECT: %+v", m)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// A caller that finds the selection unusable (ErrSelectionGone) retires
// the connection: the others on it finish their commands, nobody new gets
// it, and it closes when its last user is done.
func TestPoolRetiresGoneSelection(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	seedMessages(t, s, u, 2)
	p := poolOpen(t, s, u, imapclient.PoolConfig{Size: 2})
	ctx := ctxT(t)
	var held *imapclient.Client
	inside, proceed := make(chan struct{}), make(chan struct{})
	other := make(chan error, 1)
	go func() {
		other <- p.Mailbox(ctx, "INBOX", func(c *imapclient.Client, _ *imapclient.MailboxStatus) error {
			held = c
			close(inside)
			<-proceed
			_, err := poolUIDs(ctx, c)
			return err
		})
	}()
	<-inside
	gone := fmt.Errorf("refused: %w", imapclient.ErrSelectionGone)
	err := p.Mailbox(ctx, "INBOX", func(c *imapclient.Client, _ *imapclient.MailboxStatus) error {
		if c != held {
			return errors.New("not the shared connection")
		}
		return gone
	})
	if !errors.Is(err, gone) {
		t.Fatal(err)
	}
	err = p.Mailbox(ctx, "INBOX", func(c *imapclient.Client, _ *imapclient.MailboxStatus) error {
		if c == held {
			return errors.New("a retired connection was handed out again")
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	close(proceed)
	if err := <-other; err != nil {
		t.Errorf("the caller still on the retired connection: %v", err)
	}
	if st := p.Stats(); st.Open != 1 || st.Dropped != 1 || held.Err() == nil {
		t.Errorf("after its last user: %+v (its error: %v), want it closed", st, held.Err())
	}
}

// Unilateral data reaches Updates with the mailbox it is about.
func TestPoolUpdatesNameTheMailbox(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		box := s.Personal("Watched")
		s.CreateMailbox(t, u, box)
		var mu sync.Mutex
		var exists []string
		p := poolOpen(t, s, u, imapclient.PoolConfig{Size: 1, Updates: func(mailbox string, upd imapclient.Update) {
			if e, ok := upd.(imapclient.ExistsUpdate); ok && e.N == 1 {
				mu.Lock()
				exists = append(exists, mailbox)
				mu.Unlock()
			}
		}})
		ctx := ctxT(t)
		err := p.Mailbox(ctx, box, func(c *imapclient.Client, m *imapclient.MailboxStatus) error {
			s.Seed(t, u, box, test.Message{Body: []byte("Subject: new\r\n\r\nnew\r\n")})
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				if err := c.Noop(ctx); err != nil {
					return err
				}
				mu.Lock()
				n := len(exists)
				mu.Unlock()
				if n > 0 {
					return nil
				}
			}
			return errors.New("no EXISTS 1")
		})
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if exists[0] != box {
			t.Errorf("EXISTS reported for %q, want %q", exists[0], box)
		}
	})
}

// The answer to an EXAMINE describes the mailbox as opened: its EXISTS
// reaches Updates as no change of the mailbox, which would make a store
// distrust the listing it fetches right after.
func TestPoolSelectionAnswerIsNoChange(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	box := s.Personal("Opened")
	s.CreateMailbox(t, u, box)
	s.Seed(t, u, box, test.Message{Body: []byte("Subject: one\r\n\r\none\r\n")}, test.Message{Body: []byte("Subject: two\r\n\r\ntwo\r\n")})
	var mu sync.Mutex
	var changed []imapclient.Update
	p := poolOpen(t, s, u, imapclient.PoolConfig{Size: 1, Updates: func(mailbox string, upd imapclient.Update) {
		if mailbox == box {
			mu.Lock()
			changed = append(changed, upd)
			mu.Unlock()
		}
	}})
	err := p.Mailbox(ctxT(t), box, func(c *imapclient.Client, m *imapclient.MailboxStatus) error {
		if m.Exists != 2 {
			t.Errorf("the EXAMINE counted %d messages, want 2", m.Exists)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, upd := range changed {
		if _, ok := upd.(imapclient.ExistsUpdate); ok {
			t.Errorf("the EXAMINE's answer was reported as a change of %q: %#v", box, changed)
		}
	}
}

// A connection the server drops under a call fails that call with
// ErrAbort; the next call gets a fresh connection.
func TestPoolKickedConnection(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	seedMessages(t, s, u, 2)
	p := poolOpen(t, s, u, imapclient.PoolConfig{Size: 2})
	ctx := ctxT(t)
	var first *imapclient.Client
	err := p.Mailbox(ctx, "INBOX", func(c *imapclient.Client, m *imapclient.MailboxStatus) error {
		first = c
		s.Doveadm(t, "kick", u.Name)
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if err := c.Noop(ctx); err != nil {
				return err
			}
		}
		return errors.New("still connected after the kick")
	})
	if !errors.Is(err, imapclient.ErrAbort) {
		t.Fatalf("call on a kicked connection: %v, want ErrAbort", err)
	}
	err = p.Mailbox(ctx, "INBOX", func(c *imapclient.Client, m *imapclient.MailboxStatus) error {
		if c == first {
			return errors.New("the broken connection was handed out again")
		}
		uids, err := poolUIDs(ctx, c)
		if err == nil && !slices.Equal(uids, poolStoredUIDs(t, s, u, "INBOX")) {
			err = fmt.Errorf("UIDs %v", uids)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Open != 1 || st.Dropped != 1 || st.Dials != 2 || st.FailedDials != 0 {
		t.Errorf("stats %+v", st)
	}
}

// While the server is down, calls fail with the dial error (at once, not
// by their deadline), dials back off, and calls succeed again once the
// server is back.
func TestPoolServerDown(t *testing.T) {
	s := test.StartDovecot(t)
	u := s.NewUser(t)
	seedMessages(t, s, u, 1)
	var logBuf bytes.Buffer
	var logMu sync.Mutex
	cfg := imapclient.PoolConfig{Size: 2, Logger: slogTo(&lockedWriter{w: &logBuf, mu: &logMu})}
	p := poolOpen(t, s, u, cfg)
	ctx := ctxT(t)
	if err := p.Mailbox(ctx, "INBOX", func(*imapclient.Client, *imapclient.MailboxStatus) error { return nil }); err != nil {
		t.Fatal(err)
	}
	s.Stop(t)

	const timeout = 500 * time.Millisecond
	downSince := time.Now()
	var sawDialErr bool
	for time.Since(downSince) < 3*time.Second {
		callCtx, cancel := context.WithTimeout(context.Background(), timeout)
		start := time.Now()
		err := p.Mailbox(callCtx, "INBOX", func(c *imapclient.Client, m *imapclient.MailboxStatus) error { return c.Noop(callCtx) })
		cancel()
		if d := time.Since(start); d > timeout+time.Second {
			t.Errorf("a call took %v with a %v deadline", d, timeout)
		}
		switch {
		case err == nil:
			t.Fatal("a call succeeded with the server down")
		case errors.Is(err, imapclient.ErrUnreachable) && errors.Is(err, syscall.ECONNREFUSED):
			sawDialErr = true
		case errors.Is(err, imapclient.ErrAbort): // the old connection, before the pool saw it break
		default:
			t.Errorf("server down: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !sawDialErr {
		t.Error("no call reported the dial error")
	}
	// Backoff 0.1+0.2+0.4+0.8+1.6 s: about five dials in three seconds.
	st := p.Stats()
	t.Logf("after 3 s down: %+v", st)
	if st.FailedDials < 2 || st.FailedDials > 8 || st.Open != 0 {
		t.Errorf("while down: %+v", st)
	}

	s.Restart(t)
	// Calls fail at once until the backoff (5 s at most) lets a dial
	// find the server back.
	callCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		err := p.Mailbox(callCtx, "INBOX", func(c *imapclient.Client, m *imapclient.MailboxStatus) error {
			if m.Exists != 1 {
				return fmt.Errorf("status %+v", m)
			}
			return c.Noop(callCtx)
		})
		if err == nil {
			break
		}
		if !errors.Is(err, imapclient.ErrUnreachable) || callCtx.Err() != nil {
			t.Fatalf("after restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if log := logBuf.String(); !strings.Contains(log, "connecting failed") || !strings.Contains(log, "reconnected") {
		t.Errorf("log:\n%s", log)
	}
}

// While the server cannot be reached, callers do not wait for their
// context: those waiting for the dial that fails get its error when it
// fails, and those that come while the pool backs off before its next
// dial get the last dial's error at once, without a dial each.
func TestPoolUnreachableFailsFast(t *testing.T) {
	t.Parallel() // waits for a server of its own
	s := test.StartDovecot(t)
	u := s.NewUser(t)
	p := poolOpen(t, s, u, imapclient.PoolConfig{Size: 2})
	s.Stop(t)
	// Far longer than the test's guard: a caller that waits for its
	// context fails the test.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	noop := func(*imapclient.Client, *imapclient.MailboxStatus) error { return nil }
	unreachable := func(err error) bool {
		return errors.Is(err, imapclient.ErrUnreachable) && errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, context.DeadlineExceeded)
	}

	const callers, later = 8, 20
	errs := make(chan error, callers+later)
	for range callers {
		go func() { errs <- p.Mailbox(ctx, "INBOX", noop) }()
	}
	go func() {
		// One after the other, as a tool walking the mount asks.
		for range later {
			errs <- p.Any(ctx, func(*imapclient.Client) error { return nil })
		}
	}()
	guard := time.After(30 * time.Second)
	for range callers + later {
		select {
		case err := <-errs:
			if !unreachable(err) {
				t.Errorf("a call with the server down: %v; want ErrUnreachable with the dial's error", err)
			}
		case <-guard:
			t.Fatalf("calls still wait for a connection 30 s after the server stopped; stats %+v", p.Stats())
		}
	}
	st := p.Stats()
	t.Logf("stats after %d calls: %+v", callers+later, st)
	if st.Open != 0 || st.FailedDials == 0 || st.FailedDials >= callers+later {
		t.Errorf("stats %+v: want failed dials, fewer than the %d calls", st, callers+later)
	}
}

// poolGoroutines counts goroutines running pool code or a Client's reader.
func poolGoroutines() int {
	var buf bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&buf, 2)
	n := 0
	for g := range strings.SplitSeq(buf.String(), "\n\n") {
		if strings.Contains(g, "imapclient.(*Pool)") || strings.Contains(g, "imapclient.(*Client).readLoop") {
			n++
		}
	}
	return n
}

// Close wakes waiting callers with ErrPoolClosed, ends the connections and
// leaves no goroutine behind; later calls fail with ErrPoolClosed.
func TestPoolClose(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	other := s.Personal("Other")
	s.CreateMailbox(t, u, other)
	before := poolGoroutines()
	p := imapclient.NewPool(imapclient.PoolConfig{Size: 1, Dial: poolDialer(t, s, u)})
	ctx := ctxT(t)

	holding := make(chan struct{})
	release := make(chan struct{})
	holderErr := make(chan error, 1)
	go func() {
		holderErr <- p.Mailbox(ctx, "INBOX", func(c *imapclient.Client, m *imapclient.MailboxStatus) error {
			close(holding)
			<-release
			return c.Noop(ctx)
		})
	}()
	<-holding
	waiterErr := make(chan error, 1)
	go func() {
		// Size 1 and the connection is busy on INBOX: this one waits.
		waiterErr <- p.Mailbox(ctx, other, func(*imapclient.Client, *imapclient.MailboxStatus) error { return nil })
	}()
	time.Sleep(100 * time.Millisecond)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waiterErr:
		if !errors.Is(err, imapclient.ErrPoolClosed) {
			t.Errorf("waiting caller: %v, want ErrPoolClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a waiting caller is still blocked after Close")
	}
	close(release)
	if err := <-holderErr; !errors.Is(err, imapclient.ErrAbort) {
		t.Errorf("command on a connection closed by Close: %v, want ErrAbort", err)
	}
	if err := p.Any(ctx, func(*imapclient.Client) error { return nil }); !errors.Is(err, imapclient.ErrPoolClosed) {
		t.Errorf("Any after Close: %v", err)
	}
	if _, err := p.Capabilities(ctx); !errors.Is(err, imapclient.ErrPoolClosed) {
		t.Errorf("Capabilities after Close: %v", err)
	}
	for deadline := time.Now().Add(5 * time.Second); poolGoroutines() > before; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines left after Close:\n%s", buf[:runtime.Stack(buf, true)])
		}
	}
}

// A login the server refuses fails the call at once with the server's NO,
// not after the caller's whole deadline.
func TestPoolLoginRefused(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	u.Password = "wrong"
	p := poolOpen(t, s, u, imapclient.PoolConfig{Size: 2})
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		start := time.Now()
		err := p.Any(ctx, func(*imapclient.Client) error { return nil })
		cancel()
		if !errors.Is(err, imapclient.ErrNo) {
			t.Fatalf("wrong password: %v, want ErrNo", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("a refused login took %v to report", d)
		}
	}
	if st := p.Stats(); st.Open != 0 || st.FailedDials != 1 {
		t.Errorf("stats %+v (one dial, then the backoff reports its error)", st)
	}
}

// A mailbox the pool has selected is left (UNSELECT) before it is
// deleted, so the server keeps the connection: Dovecot would end the
// session whose selected mailbox disappears.
func TestPoolUnselectBeforeDelete(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		gone := s.Personal("Gone")
		s.CreateMailbox(t, u, gone)
		p := poolOpen(t, s, u, imapclient.PoolConfig{Size: 1})
		ctx := ctxT(t)
		if err := p.Mailbox(ctx, gone, func(c *imapclient.Client, _ *imapclient.MailboxStatus) error { return c.Noop(ctx) }); err != nil {
			t.Fatal(err)
		}
		p.Unselect(ctx, gone)
		if err := p.Any(ctx, func(c *imapclient.Client) error { return c.Delete(ctx, gone) }); err != nil {
			t.Fatal(err)
		}
		if err := p.Mailbox(ctx, "INBOX", func(c *imapclient.Client, _ *imapclient.MailboxStatus) error { return c.Noop(ctx) }); err != nil {
			t.Fatal(err)
		}
		if st := p.Stats(); st.Dials != 1 || st.Dropped != 0 {
			t.Errorf("stats %+v: the connection did not survive the DELETE", st)
		}
	})
}

// Without UNSELECT the pool still leaves a mailbox before it is deleted,
// for a server that refuses to delete the selected mailbox, and never
// with CLOSE or EXPUNGE: another client's \Deleted messages survive.
func TestPoolUnselectWithoutUNSELECT(t *testing.T) {
	s := test.StartScripted(t, test.Variation{
		Capabilities:         []string{"IMAP4rev1", "UIDPLUS", "LITERAL+"},
		RefuseDeleteSelected: true,
	})
	s.CreateMailbox(t, "Kept")
	s.Seed(t, "Kept", test.Message{Body: []byte("Subject: deleted elsewhere\r\n\r\nx\r\n"), Flags: []string{`\Deleted`}})
	s.CreateMailbox(t, "Gone")
	p := imapclient.NewPool(imapclient.PoolConfig{Size: 1, Dial: scriptedDialer(t, s)})
	t.Cleanup(func() { p.Close() })
	ctx := ctxT(t)
	for _, name := range []string{"Kept", "Gone"} {
		if err := p.Mailbox(ctx, name, func(c *imapclient.Client, _ *imapclient.MailboxStatus) error { return c.Noop(ctx) }); err != nil {
			t.Fatal(err)
		}
		p.Unselect(ctx, name)
	}
	if err := p.Any(ctx, func(c *imapclient.Client) error { return c.Delete(ctx, "Gone") }); err != nil {
		t.Fatalf("DELETE after Unselect: %v\n%s", err, s.Transcript(4000))
	}
	if got := s.Mailboxes(); slices.Contains(got, "Gone") {
		t.Errorf("Gone still there: %v", got)
	}
	if got := s.Messages(t, "Kept"); len(got) != 1 {
		t.Errorf("Kept holds %+v: another client's \\Deleted message was expunged", got)
	}
	for _, cmd := range s.Commands() {
		if strings.HasPrefix(cmd, "CLOSE") || strings.Contains(cmd, "EXPUNGE") {
			t.Errorf("sent %q", cmd)
		}
	}
	if st := p.Stats(); st.Dials != 1 || st.Dropped != 0 {
		t.Errorf("stats %+v: the connection did not survive", st)
	}
}

// scriptedDialer logs in to a scripted server over implicit TLS.
func scriptedDialer(t *testing.T, s *test.Scripted) func(context.Context, imapclient.Options) (*imapclient.Client, error) {
	pem, err := os.ReadFile(s.TLS.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	return func(ctx context.Context, opts imapclient.Options) (*imapclient.Client, error) {
		c, err := imapclient.DialTLS(ctx, s.TLSAddr(), &tls.Config{RootCAs: roots}, opts)
		if err != nil {
			return nil, err
		}
		if err := c.Login(ctx, s.User.Name, s.User.Password); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
}

// Connect logs in at once and the connection serves the pool's callers:
// no second login. A refused login is Connect's error, and the pool dials
// nothing of its own for it.
func TestPoolConnect(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	ctx := context.Background()
	p := poolOpen(t, s, u, imapclient.PoolConfig{Size: 2})
	if err := p.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Mailbox(ctx, "INBOX", func(c *imapclient.Client, m *imapclient.MailboxStatus) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Dials != 1 {
		t.Errorf("%d dials after Connect and one call, want 1", st.Dials)
	}

	bad := imapclient.NewPool(imapclient.PoolConfig{Size: 2, Dial: poolDialer(t, s, test.User{Name: u.Name, Password: "wrong"})})
	defer bad.Close()
	if err := bad.Connect(ctx); !errors.Is(err, imapclient.ErrNo) {
		t.Errorf("Connect with a wrong password: %v, want the server's NO", err)
	}
	if st := bad.Stats(); st.Dials != 0 {
		t.Errorf("a refused Connect left %d dials", st.Dials)
	}
}

// ExamineEach refuses what no connection could send (too many mailboxes,
// a name the encoder refuses) before it takes or makes a connection.
func TestPoolExamineEachChecksFirst(t *testing.T) {
	p := imapclient.NewPool(imapclient.PoolConfig{Size: 1, Dial: func(context.Context, imapclient.Options) (*imapclient.Client, error) {
		return nil, errors.New("no server here")
	}})
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tooMany := make([]string, imapclient.ExamineEachMax+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("Box%d", i)
	}
	for _, mailboxes := range [][]string{tooMany, {"A", "B\r\nC"}} {
		err := p.ExamineEach(ctx, mailboxes, []string{imapclient.FetchUID}, func(imapclient.MailboxFetch) {
			t.Error("each called")
		})
		if err == nil || errors.Is(err, imapclient.ErrUnreachable) || strings.Contains(err.Error(), "no server") {
			t.Errorf("ExamineEach of %d mailboxes: %v, want its input refused", len(mailboxes), err)
		}
	}
	if st := p.Stats(); st.Dials != 0 {
		t.Errorf("%d dials for ExamineEach calls refused for their input", st.Dials)
	}
}

// A connection made by Connect counts as a dial that succeeded: the
// pool no longer reports the failure of the one before, and never holds
// more connections than its size.
func TestPoolConnectLikeADial(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	s.CreateMailbox(t, u, s.Personal("Other"))
	dial := poolDialer(t, s, u)
	var failed atomic.Bool
	p := imapclient.NewPool(imapclient.PoolConfig{Size: 1, Dial: func(ctx context.Context, opts imapclient.Options) (*imapclient.Client, error) {
		if !failed.Swap(true) {
			return nil, errors.New("the server is away")
		}
		return dial(ctx, opts)
	}})
	defer p.Close()
	ctx := ctxT(t)
	if err := p.Mailbox(ctx, "INBOX", func(*imapclient.Client, *imapclient.MailboxStatus) error { return nil }); !errors.Is(err, imapclient.ErrUnreachable) {
		t.Fatalf("Mailbox while the server is away: %v, want ErrUnreachable", err)
	}
	for range 2 {
		if err := p.Connect(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if st := p.Stats(); st.Open != 1 {
		t.Errorf("%d connections open in a pool of size 1 after Connect twice", st.Open)
	}
	// The one connection busy with INBOX, a caller of another mailbox
	// waits for it until its context ends: for that, not because the
	// server is away.
	release := make(chan struct{})
	busy := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- p.Mailbox(ctx, "INBOX", func(*imapclient.Client, *imapclient.MailboxStatus) error {
			close(busy)
			<-release
			return nil
		})
	}()
	<-busy
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	err := p.Mailbox(short, s.Personal("Other"), func(*imapclient.Client, *imapclient.MailboxStatus) error { return nil })
	cancel()
	close(release)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, imapclient.ErrUnreachable) {
		t.Errorf("waiting for the busy connection: %v, want only the deadline", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
