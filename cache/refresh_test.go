package cache

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"imapfs/imapclient"
)

// A scripted server, for what the real ones show only by chance: answers
// to a listing refresh that go astray (under load, another command on the
// connection takes them). It holds one mailbox; each connection sees it
// as of its last NOOP, as a real server does.
type scriptedMailbox struct {
	mu   sync.Mutex
	uids []uint32
	// lose: the UIDs whose answers the next metadata FETCH leaves out.
	lose map[uint32]bool
	// refuseNoop answers NOOP with NO, as Dovecot does once another
	// client deleted the selected mailbox.
	refuseNoop bool
	noops      int // NOOPs received
	// flags are every message's FLAGS, inside the parentheses.
	flags string
	// bodySets are the UID sets of the body FETCHes received, in order.
	bodySets []string
}

func (mb *scriptedMailbox) set(uids []uint32, lose ...uint32) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	mb.uids = slices.Clone(uids)
	mb.lose = map[uint32]bool{}
	for _, u := range lose {
		mb.lose[u] = true
	}
}

// noop counts a NOOP (under mu); true.
func (mb *scriptedMailbox) noop() bool {
	mb.noops++
	return true
}

func (mb *scriptedMailbox) serve(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	w := bufio.NewWriter(conn)
	fmt.Fprintf(w, "* PREAUTH [CAPABILITY IMAP4rev1] scripted\r\n")
	w.Flush()
	var view []uint32 // the mailbox as this connection last saw it
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		tag, cmd, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		mb.mu.Lock()
		switch {
		case strings.HasPrefix(cmd, "SELECT") || strings.HasPrefix(cmd, "EXAMINE"):
			view = slices.Clone(mb.uids)
			fmt.Fprintf(w, "* %d EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT %d] n\r\n%s OK [READ-WRITE] done\r\n", len(view), 1000, tag)
		case cmd == "NOOP" && mb.noop() && mb.refuseNoop:
			fmt.Fprintf(w, "%s NO mailbox gone\r\n", tag)
		case cmd == "NOOP":
			for i := len(view) - 1; i >= 0; i-- {
				if !slices.Contains(mb.uids, view[i]) {
					fmt.Fprintf(w, "* %d EXPUNGE\r\n", i+1)
					view = slices.Delete(view, i, i+1)
				}
			}
			if len(mb.uids) != len(view) {
				view = slices.Clone(mb.uids)
				fmt.Fprintf(w, "* %d EXISTS\r\n", len(view))
			}
			fmt.Fprintf(w, "%s OK done\r\n", tag)
		case strings.HasPrefix(cmd, "UID FETCH "):
			fields := strings.Fields(cmd)
			meta := strings.Contains(cmd, "RFC822.SIZE")
			if strings.Contains(cmd, "BODY.PEEK") {
				mb.bodySets = append(mb.bodySets, fields[2])
			}
			for _, i := range uidRange(view, fields[2]) {
				uid := view[i]
				if meta && mb.lose[uid] {
					continue
				}
				if meta {
					fmt.Fprintf(w, "* %d FETCH (UID %d RFC822.SIZE %d INTERNALDATE \"01-Jan-2025 00:00:00 +0000\" FLAGS (%s))\r\n", i+1, uid, 100+uid, mb.flags)
				} else {
					fmt.Fprintf(w, "* %d FETCH (UID %d FLAGS (%s))\r\n", i+1, uid, mb.flags)
				}
			}
			if meta {
				mb.lose = nil
			}
			fmt.Fprintf(w, "%s OK done\r\n", tag)
		case cmd == "UID SEARCH ALL":
			fmt.Fprintf(w, "* SEARCH")
			for _, u := range view {
				fmt.Fprintf(w, " %d", u)
			}
			fmt.Fprintf(w, "\r\n%s OK done\r\n", tag)
		default:
			fmt.Fprintf(w, "%s BAD not scripted\r\n", tag)
		}
		mb.mu.Unlock()
		w.Flush()
	}
}

// uidRange returns the indexes into view of the UIDs in "a:b", "a:*" or
// "a"; "*" with a above every UID gives the highest message (RFC 3501).
func uidRange(view []uint32, set string) []int {
	lo, hi, ranged := strings.Cut(set, ":")
	a, _ := strconv.ParseUint(lo, 10, 32)
	b := a
	if ranged && hi != "*" {
		b, _ = strconv.ParseUint(hi, 10, 32)
	}
	var out []int
	for i, u := range view {
		if uint64(u) >= a && (uint64(u) <= b || hi == "*") {
			out = append(out, i)
		}
	}
	if len(out) == 0 && hi == "*" && len(view) > 0 {
		out = []int{len(view) - 1}
	}
	return out
}

func scriptedStore(t *testing.T, mb *scriptedMailbox) *Store {
	return scriptedStoreOf(t, mb, 1)
}

// scriptedStoreOf is scriptedStore with up to size connections.
func scriptedStoreOf(t *testing.T, mb *scriptedMailbox, size int) *Store {
	pool := imapclient.NewPool(imapclient.PoolConfig{
		Size: size,
		Dial: func(ctx context.Context, opts imapclient.Options) (*imapclient.Client, error) {
			client, server := net.Pipe()
			go mb.serve(server)
			return imapclient.New(ctx, client, opts)
		},
	})
	t.Cleanup(func() { pool.Close() })
	s := New(Config{Pool: pool, CacheSize: 1 << 20, TTL: time.Hour, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	return s
}

// testWriter sends the store's log to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func uidsOf(l *Listing) []uint32 {
	var uids []uint32
	for _, m := range l.Messages {
		uids = append(uids, m.UID)
	}
	return uids
}

func seq(from, to uint32) []uint32 {
	var uids []uint32
	for u := from; u <= to; u++ {
		uids = append(uids, u)
	}
	return uids
}

// A refresh whose answers went astray notices, and recovers (fetching
// the whole listing, or by UID what UID SEARCH shows unanswered): no
// message is left out, none expunged kept, even where a count of
// messages would come out right.
func TestRefreshNoticesLostAnswers(t *testing.T) {
	for _, tc := range []struct {
		name string
		now  []uint32
		lose []uint32
	}{
		// The trace of the issue: 11-13 taken by another command.
		{"new ones lost", seq(1, 14), []uint32{11, 12, 13}},
		// One expunged, one new lost: the count comes out right.
		{"expunge and loss even out", append([]uint32{1}, seq(3, 12)...), []uint32{11}},
		// The highest known one's answer and a new one lost.
		{"anchor lost", seq(1, 13), []uint32{10, 11}},
		// Every answer to last:* lost.
		{"all lost", seq(1, 12), seq(10, 12)},
		// The only new one lost, with one expunged.
		{"only new lost", append(seq(1, 4), seq(6, 11)...), []uint32{11}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mb := &scriptedMailbox{}
			mb.set(seq(1, 10))
			s := scriptedStore(t, mb)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			l, err := s.Listing(ctx, "INBOX")
			if err != nil || !slices.Equal(uidsOf(l), seq(1, 10)) {
				t.Fatalf("first listing %v, %v", uidsOf(l), err)
			}
			mb.set(tc.now, tc.lose...)
			s.markDirty("INBOX")
			if l, err = s.Listing(ctx, "INBOX"); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(uidsOf(l), tc.now) {
				t.Errorf("listing %v, the server has %v", uidsOf(l), tc.now)
			}
		})
	}
}

// Without lost answers a refresh fetches only what is new and finds what
// was expunged, without fetching the whole listing again.
func TestRefreshIncremental(t *testing.T) {
	mb := &scriptedMailbox{}
	mb.set(seq(1, 10))
	s := scriptedStore(t, mb)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, now := range [][]uint32{
		seq(1, 10),
		seq(1, 12),
		append(seq(1, 4), seq(6, 13)...),
		append(seq(1, 4), seq(6, 11)...), // the highest known ones expunged
		{},
		{20},
	} {
		mb.set(now)
		s.markDirty("INBOX")
		l, err := s.Listing(ctx, "INBOX")
		if err != nil || !slices.Equal(uidsOf(l), now) {
			t.Errorf("listing %v, %v; the server has %v", uidsOf(l), err, now)
		}
	}
	if n := s.Stats().ListingFetches.Load(); n != 1 {
		t.Errorf("%d whole listings fetched, want 1", n)
	}
}

// The first listing of a mailbox, fetched whole right after the EXAMINE,
// needs no NOOP first: the EXAMINE's answer is as recent. A refresh of a
// listing held begins with one.
func TestFirstListingSendsNoNoop(t *testing.T) {
	mb := &scriptedMailbox{}
	mb.set(seq(1, 3))
	s := scriptedStoreOf(t, mb, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if l, err := s.Listing(ctx, "INBOX"); err != nil || !slices.Equal(uidsOf(l), seq(1, 3)) {
		t.Fatalf("first listing: %v, %v", uidsOf(l), err)
	}
	mb.mu.Lock()
	if mb.noops != 0 {
		t.Errorf("the first listing sent %d NOOPs, want none", mb.noops)
	}
	mb.mu.Unlock()
	mb.set(seq(1, 4))
	s.markDirty("INBOX")
	if l, err := s.Listing(ctx, "INBOX"); err != nil || !slices.Equal(uidsOf(l), seq(1, 4)) {
		t.Fatalf("refreshed listing: %v, %v", uidsOf(l), err)
	}
	mb.mu.Lock()
	if mb.noops != 1 {
		t.Errorf("the refresh sent %d NOOPs, want 1", mb.noops)
	}
	mb.mu.Unlock()
}

// A NO to NOOP (the selection gone bad) makes the listing select anew on
// another connection, without cutting off the commands other callers
// have on the refused one: that connection is closed once they are done.
func TestRefusedSelectionSparesOtherCallers(t *testing.T) {
	mb := &scriptedMailbox{}
	mb.set(seq(1, 3))
	s := scriptedStoreOf(t, mb, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A listing held, so that the next look refreshes it, beginning with
	// a NOOP (a whole listing right after the EXAMINE needs none).
	if _, err := s.Listing(ctx, "INBOX"); err != nil {
		t.Fatal(err)
	}
	s.markDirty("INBOX")
	inside, proceed := make(chan struct{}), make(chan struct{})
	other := make(chan error, 1)
	go func() {
		other <- s.pool.Mailbox(ctx, "INBOX", func(c *imapclient.Client, _ *imapclient.MailboxStatus) error {
			close(inside)
			<-proceed
			msgs, err := c.UIDFetch(ctx, imapclient.SeqSet{{Start: 1, Stop: 3}}, []string{imapclient.FetchUID, imapclient.FetchFlags}, nil)
			if err == nil && len(msgs) != 3 {
				err = fmt.Errorf("%d messages fetched, want 3", len(msgs))
			}
			return err
		})
	}()
	<-inside
	mb.mu.Lock()
	mb.refuseNoop = true
	mb.mu.Unlock()
	if _, err := s.Listing(ctx, "INBOX"); !errors.Is(err, errSelectionRefused) {
		t.Errorf("listing with NOOP refused: %v, want errSelectionRefused", err)
	}
	close(proceed)
	if err := <-other; err != nil {
		t.Errorf("a caller sharing the refused connection: %v", err)
	}
	if st := s.pool.Stats(); st.Open != 0 || st.Dropped != 2 {
		t.Errorf("pool after both refusals: %+v, want both connections closed", st)
	}
	mb.mu.Lock()
	mb.refuseNoop = false
	mb.mu.Unlock()
	if l, err := s.Listing(ctx, "INBOX"); err != nil || !slices.Equal(uidsOf(l), seq(1, 3)) {
		t.Errorf("listing once the server serves again: %v, %v", uidsOf(l), err)
	}
}

// A listing waits for a refresh of the same mailbox under way (a walk's
// batch holds it across round trips), but no longer than its caller
// does: an interrupted ls returns at once.
func TestListingWaitsForRefreshOnlyAsLongAsItsCaller(t *testing.T) {
	mb := &scriptedMailbox{}
	mb.set(seq(1, 3))
	s := scriptedStore(t, mb)
	b := s.box("INBOX")
	if !b.refreshMu.TryLock() {
		t.Fatal("a fresh mailbox's refresh is held")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.Listing(ctx, "INBOX")
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("listing while a refresh holds the mailbox, interrupted: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an interrupted listing still waits for the refresh under way")
	}
	b.refreshMu.Unlock()
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if l, err := s.Listing(ctx, "INBOX"); err != nil || !slices.Equal(uidsOf(l), seq(1, 3)) {
		t.Fatalf("listing once the refresh ended: %v, %v", uidsOf(l), err)
	}
}
