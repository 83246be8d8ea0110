package imapclient_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"imapfs/imapclient"
	"imapfs/test"
)

var examineEachItems = []string{imapclient.FetchUID, imapclient.FetchRFC822Size, imapclient.FetchInternalDate, imapclient.FetchFlags}

// examineEachSeed makes mailbox with n messages.
func examineEachSeed(t *testing.T, s *test.Server, u test.User, mailbox string, n int) {
	t.Helper()
	s.CreateMailbox(t, u, mailbox)
	for i := range n {
		s.Seed(t, u, mailbox, test.Message{Body: fmt.Appendf(nil, "Subject: %s %d\r\n\r\n%s\r\n", mailbox, i, strings.Repeat("x", 10*i))})
	}
}

// examineEachCheck checks one mailbox's answer against what the server
// holds.
func examineEachCheck(t *testing.T, s *test.Server, u test.User, r imapclient.MailboxFetch) {
	t.Helper()
	if r.Err != nil {
		t.Errorf("%q: %v", r.Mailbox, r.Err)
		return
	}
	stored := s.Messages(t, u, r.Mailbox)
	if r.Status == nil || r.Exists != uint32(len(stored)) || r.Status.UIDValidity == 0 || r.SelectedAt.IsZero() {
		t.Errorf("%q: status %+v, exists %d, selected at %v; the server holds %d messages", r.Mailbox, r.Status, r.Exists, r.SelectedAt, len(stored))
	}
	if len(r.Messages) != len(stored) {
		t.Errorf("%q: %d messages listed, the server holds %d", r.Mailbox, len(r.Messages), len(stored))
		return
	}
	for i, m := range r.Messages {
		if want := stored[i]; m.UID != want.UID || m.Size != want.Size || !m.InternalDate.Equal(want.InternalDate) {
			t.Errorf("%q message %d: UID %d size %d date %v; server: %+v", r.Mailbox, i, m.UID, m.Size, m.InternalDate, want)
		}
	}
}

// Several mailboxes listed in one batch: each gets its own messages, a
// missing or deleted one in the middle gets the EXAMINE's NO alone and
// the ones after it go on, and the connection ends with the last one
// examined (none when that one is missing), as the server has it.
func TestExamineEachListsMailboxes(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		a, gone, b, missing, empty, c := s.Personal("A"), s.Personal("Gone"), s.Personal("B"), s.Personal("Missing"), s.Personal("Empty"), s.Personal("C")
		examineEachSeed(t, s, u, a, 3)
		examineEachSeed(t, s, u, gone, 2)
		examineEachSeed(t, s, u, b, 1)
		examineEachSeed(t, s, u, empty, 0)
		examineEachSeed(t, s, u, c, 4)
		if _, _, err := s.Session(t, u).Run(`DELETE "` + gone + `"`); err != nil {
			t.Fatal(err)
		}
		client := login(t, s, u, imapclient.Options{})
		ctx := ctxT(t)

		var got []imapclient.MailboxFetch
		order := []string{a, gone, b, missing, empty, c}
		err := client.ExamineEach(ctx, order, examineEachItems, func(r imapclient.MailboxFetch) { got = append(got, r) })
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(order) {
			t.Fatalf("%d answers for %d mailboxes", len(got), len(order))
		}
		for i, r := range got {
			if r.Mailbox != order[i] {
				t.Errorf("answer %d is for %q, want %q", i, r.Mailbox, order[i])
			}
			switch r.Mailbox {
			case gone, missing:
				if !errors.Is(r.Err, imapclient.ErrNo) || r.Status != nil || r.Messages != nil {
					t.Errorf("%q: error %v, status %+v, %d messages; want the EXAMINE's NO alone", r.Mailbox, r.Err, r.Status, len(r.Messages))
				}
			default:
				examineEachCheck(t, s, u, r)
				if r.Status != nil && r.Status.Exists != r.Exists {
					t.Errorf("%q: EXAMINE counted %d messages, %d after the FETCH; nothing changed", r.Mailbox, r.Status.Exists, r.Exists)
				}
			}
		}
		if m := client.Mailbox(); m == nil || m.Name != c || !m.ReadOnly {
			t.Fatalf("after the batch the selection is %+v, want %q examined", m, c)
		}
		all, _ := imapclient.ParseSeqSet("1:*")
		if msgs, err := client.UIDFetch(ctx, all, examineEachItems, nil); err != nil || len(msgs) != 4 {
			t.Errorf("the server's selection after the batch: %d messages, %v; want C's 4", len(msgs), err)
		}

		// A batch that ends with a missing mailbox leaves none selected.
		got = nil
		if err := client.ExamineEach(ctx, []string{b, missing}, examineEachItems, func(r imapclient.MailboxFetch) { got = append(got, r) }); err != nil {
			t.Fatal(err)
		}
		examineEachCheck(t, s, u, got[0])
		if !errors.Is(got[1].Err, imapclient.ErrNo) {
			t.Errorf("%q: %v, want NO", missing, got[1].Err)
		}
		if m := client.Mailbox(); m != nil {
			t.Errorf("after a failed last EXAMINE the selection is %+v, want none", m)
		}
		if err := client.Noop(ctx); err != nil {
			t.Errorf("the connection after the batch: %v", err)
		}
	})
}

// All the commands of a batch are written before the first answer: with
// the server's answers held back, every byte of them reaches the server.
func TestExamineEachPipelines(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		var order []string
		for i := range 5 {
			box := s.Personal(fmt.Sprintf("Pipe%d", i))
			examineEachSeed(t, s, u, box, 1)
			order = append(order, box)
		}
		p, client := loginViaProxy(t, s, u)
		ctx := ctxT(t)
		// The commands less their tags ("T<n> "), which are at least 3
		// bytes: more than every command but the last.
		var least int64
		for _, box := range order {
			least += int64(len("T1 EXAMINE "+box+"\r\n") + len("T1 UID FETCH 1:* (UID RFC822.SIZE INTERNALDATE FLAGS)\r\n"))
		}
		before := p.Bytes(test.ToServer)
		held := p.Arm(test.Fault{Stall: true, Dir: test.ToClient})
		done := make(chan error, 1)
		var got []imapclient.MailboxFetch
		go func() {
			done <- client.ExamineEach(ctx, order, examineEachItems, func(r imapclient.MailboxFetch) { got = append(got, r) })
		}()
		for p.Bytes(test.ToServer)-before < least {
			select {
			case <-ctx.Done():
				held.Release()
				t.Fatalf("%d bytes of commands reached the server while its answers were held, want at least %d", p.Bytes(test.ToServer)-before, least)
			case <-time.After(10 * time.Millisecond):
			}
		}
		held.Release()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		for _, r := range got {
			examineEachCheck(t, s, u, r)
		}
	})
}

// A message that arrives in a mailbox of the batch while its FETCH is
// under way is reported (Updates) as a change of that mailbox, not of
// the next one, and the answer's Exists counts it; a listing whose
// Exists matches its messages is the server's. The EXAMINEs' own
// answers are no changes. Afterwards the pool has the last mailbox
// examined for its callers.
func TestPoolExamineEachUpdates(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		a, b := s.Personal("Busy"), s.Personal("Quiet")
		examineEachSeed(t, s, u, a, 2)
		examineEachSeed(t, s, u, b, 2)
		p := test.StartProxy(t, s.Addr(), test.ProxyOptions{})
		var mu sync.Mutex
		updates := map[string][]imapclient.Update{}
		pool := imapclient.NewPool(imapclient.PoolConfig{Size: 1,
			Dial: func(ctx context.Context, opts imapclient.Options) (*imapclient.Client, error) {
				c, err := imapclient.DialPlain(ctx, p.Addr, opts)
				if err != nil {
					return nil, err
				}
				c.AllowPlaintext()
				if err := c.Login(ctx, u.Name, u.Password); err != nil {
					c.Close()
					return nil, err
				}
				return c, nil
			},
			Updates: func(mailbox string, upd imapclient.Update) {
				mu.Lock()
				updates[mailbox] = append(updates[mailbox], upd)
				mu.Unlock()
			}})
		defer pool.Close()
		ctx := ctxT(t)
		if _, err := pool.Capabilities(ctx); err != nil { // the connection, logged in
			t.Fatal(err)
		}
		// Hold the batch's first FETCH from the server until a message
		// arrived in its mailbox.
		held := p.Arm(test.Fault{Stall: true, Dir: test.ToServer, Command: "UID FETCH"})
		go func() {
			<-held.Fired()
			s.Seed(t, u, a, test.Message{Body: []byte("Subject: late\r\n\r\nlate\r\n")})
			held.Release()
		}()
		got := map[string]imapclient.MailboxFetch{}
		err := pool.ExamineEach(ctx, []string{a, b}, examineEachItems, func(r imapclient.MailboxFetch) { got[r.Mailbox] = r })
		if err != nil {
			t.Fatal(err)
		}
		ra := got[a]
		if ra.Err != nil || ra.Status == nil {
			t.Fatalf("%q: %+v", a, ra)
		}
		stored := s.Messages(t, u, a)
		if ra.Exists != uint32(len(stored)) {
			t.Errorf("%q: Exists %d after its FETCH, the server holds %d", a, ra.Exists, len(stored))
		}
		if int(ra.Exists) == len(ra.Messages) {
			examineEachCheck(t, s, u, ra)
		}
		examineEachCheck(t, s, u, got[b])
		mu.Lock()
		if ra.Exists > ra.Status.Exists && !slices.ContainsFunc(updates[a], func(u imapclient.Update) bool { _, ok := u.(imapclient.ExistsUpdate); return ok }) {
			t.Errorf("the arrival in %q was not reported as its change: %#v", a, updates)
		}
		if len(updates[b]) > 0 {
			t.Errorf("changes reported for %q, which did not change: %#v", b, updates[b])
		}
		mu.Unlock()

		selects := pool.Stats().Selects
		err = pool.Mailbox(ctx, b, func(c *imapclient.Client, m *imapclient.MailboxStatus) error {
			if m.Exists != 2 {
				t.Errorf("%q open with %d messages, want 2", b, m.Exists)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := pool.Stats().Selects - selects; n != 0 {
			t.Errorf("%d EXAMINEs to use %q, which the batch left open; want 0", n, b)
		}
	})
}

// A batch its caller gives up on (a cancelled walk-ahead) may leave
// EXAMINEs queued on the server: the pool must not hand the connection
// on as having the mailbox open that the client saw last, or the next
// caller's FETCH meets another mailbox's messages.
func TestPoolExamineEachCancelled(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	a, b, c := s.Personal("One"), s.Personal("Two"), s.Personal("Three")
	examineEachSeed(t, s, u, a, 1)
	examineEachSeed(t, s, u, b, 2)
	examineEachSeed(t, s, u, c, 3)
	p := test.StartProxy(t, s.Addr(), test.ProxyOptions{})
	pool := imapclient.NewPool(imapclient.PoolConfig{Size: 1,
		Dial: func(ctx context.Context, opts imapclient.Options) (*imapclient.Client, error) {
			c, err := imapclient.DialPlain(ctx, p.Addr, opts)
			if err != nil {
				return nil, err
			}
			c.AllowPlaintext()
			if err := c.Login(ctx, u.Name, u.Password); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		}})
	defer pool.Close()
	ctx := ctxT(t)
	if _, err := pool.Capabilities(ctx); err != nil {
		t.Fatal(err)
	}
	// The first EXAMINE reaches the server; what follows it is held.
	held := p.Arm(test.Fault{Stall: true, Dir: test.ToServer, Command: "UID FETCH"})
	batchCtx, cancel := context.WithCancel(ctx)
	go func() {
		<-held.Fired()
		time.Sleep(200 * time.Millisecond) // the EXAMINE's answer is in
		cancel()
	}()
	if err := pool.ExamineEach(batchCtx, []string{a, b, c}, examineEachItems, func(imapclient.MailboxFetch) {}); err == nil {
		t.Fatal("the cancelled batch succeeded")
	}
	held.Release()
	err := pool.Mailbox(ctx, a, func(cl *imapclient.Client, m *imapclient.MailboxStatus) error {
		uids, err := poolUIDs(ctx, cl)
		if err == nil && len(uids) != 1 {
			t.Errorf("%q after a cancelled batch: UIDs %v, the server holds 1 message", a, uids)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The mailboxes of a batch whose answers all came are the caller's, even
// when the connection is lost before the caller takes them: only those
// left unanswered are not.
func TestExamineEachKeepsWhatCameBeforeACut(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		order := []string{s.Personal("CutA"), s.Personal("CutB")}
		for _, box := range order {
			examineEachSeed(t, s, u, box, 2)
		}
		p, client := loginViaProxy(t, s, u)
		ctx := ctxT(t)
		var got []imapclient.MailboxFetch
		err := client.ExamineEach(ctx, order, examineEachItems, func(r imapclient.MailboxFetch) {
			got = append(got, r)
			if len(got) > 1 {
				return
			}
			// Both answers are in (the server wrote them at once, over
			// loopback) when the connection goes.
			time.Sleep(500 * time.Millisecond)
			p.DropAll()
			for client.Err() == nil {
				time.Sleep(10 * time.Millisecond)
			}
		})
		if len(got) != 2 {
			t.Fatalf("%d of 2 mailboxes answered before the cut were handed over (err %v)", len(got), err)
		}
		for _, r := range got {
			examineEachCheck(t, s, u, r)
		}
	})
}

// loginViaProxy logs u in through a fault proxy of its own in front of s,
// for tests that hold back or cut the server's answers.
func loginViaProxy(t *testing.T, s *test.Server, u test.User) (*test.Proxy, *imapclient.Client) {
	t.Helper()
	p := test.StartProxy(t, s.Addr(), test.ProxyOptions{})
	ctx := ctxT(t)
	client, err := imapclient.DialPlain(ctx, p.Addr, imapclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	client.AllowPlaintext()
	if err := client.Login(ctx, u.Name, u.Password); err != nil {
		t.Fatal(err)
	}
	return p, client
}
