package cache

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"imapfs/imapclient"
)

// lockedBuffer is a log the store and the test may use at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// While no connection can be made, a listing held is served as it was,
// at once, however often it is asked for; a mailbox never listed fails
// with the pool's ErrUnreachable; the outage is logged once. Once the
// server takes connections again, a later look refreshes the listing.
func TestListingServedWhileUnreachable(t *testing.T) {
	t.Parallel() // waits for the store to look for the server again
	mb := &scriptedMailbox{}
	mb.set(seq(1, 3))
	var (
		mu    sync.Mutex
		down  bool
		conns []net.Conn
	)
	pool := imapclient.NewPool(imapclient.PoolConfig{
		Size: 1,
		Dial: func(ctx context.Context, opts imapclient.Options) (*imapclient.Client, error) {
			mu.Lock()
			defer mu.Unlock()
			if down {
				return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
			}
			client, server := net.Pipe()
			conns = append(conns, server)
			go mb.serve(server)
			return imapclient.New(ctx, client, opts)
		},
	})
	t.Cleanup(func() { pool.Close() })
	var log lockedBuffer
	s := New(Config{Pool: pool, CacheSize: 1 << 20, TTL: time.Hour, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	// Far longer than the test may take: a look that waits for its
	// context fails it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	held, err := s.Listing(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}

	// The server goes away: its connection ends, new ones are refused.
	mu.Lock()
	down = true
	for _, c := range conns {
		c.Close()
	}
	mu.Unlock()
	mb.set(seq(1, 4)) // mail that arrives meanwhile
	for range 5 {
		s.markDirty("INBOX") // as a change the server reported
		if l, err := s.Listing(ctx, "INBOX"); err != nil || l != held {
			t.Fatalf("listing with the server away: %v, %v; want the one held", uidsOf(l), err)
		}
	}
	if _, err := s.Listing(ctx, "Other"); !errors.Is(err, imapclient.ErrUnreachable) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("a listing never fetched, with the server away: %v; want ErrUnreachable with the dial's error", err)
	}
	if n := strings.Count(log.String(), "serving cached listings"); n != 1 {
		t.Errorf("the outage is logged %d times, want once:\n%s", n, log.String())
	}

	mu.Lock()
	down = false
	mu.Unlock()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		s.markDirty("INBOX")
		l, err := s.Listing(ctx, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		if slices.Equal(uidsOf(l), seq(1, 4)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("listing %v 30 s after the server came back, want %v", uidsOf(l), seq(1, 4))
		}
	}
	if !strings.Contains(log.String(), "the server answers again") {
		t.Errorf("the end of the outage is not logged:\n%s", log.String())
	}
}
