package imapclient_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"imapfs/imapclient"
	"imapfs/test"
)

// proxiedPool makes a pool for u whose connections go through a fault
// proxy in front of the server's implicit-TLS port.
func proxiedPool(t *testing.T, s *test.Server, u test.User, cfg imapclient.PoolConfig) (*imapclient.Pool, *test.Proxy) {
	proxy := test.StartProxy(t, s.TLSAddr(), test.ProxyOptions{})
	cfg.Dial = poolDialer(t, s.Via(proxy), u)
	p := imapclient.NewPool(cfg)
	t.Cleanup(func() { p.Close() })
	return p, proxy
}

// poolBody fetches one message's bytes on the pool's connection for mailbox.
func poolBody(ctx context.Context, p *imapclient.Pool, mailbox string, uid uint32) ([]byte, error) {
	var buf bytes.Buffer
	err := p.Mailbox(ctx, mailbox, func(c *imapclient.Client, _ *imapclient.MailboxStatus) error {
		_, err := c.UIDFetchBody(ctx, uid, "", 0, -1, &buf)
		return err
	})
	return buf.Bytes(), err
}

// A read whose deadline passes because the server stalls leaves its
// connection out of the pool: the next reader of the mailbox gets a new
// connection instead of queuing behind the stall until its own deadline.
func TestPoolDropsTimedOutConnection(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	msg := []byte("Subject: stalled\r\n\r\nbody\r\n")
	uid := s.Seed(t, u, "INBOX", test.Message{Body: msg})[0]
	p, proxy := proxiedPool(t, s, u, imapclient.PoolConfig{Size: 2})

	if _, err := poolBody(ctxT(t), p, "INBOX", uid); err != nil {
		t.Fatal(err)
	}

	// The server's answers stop coming on the connection the read uses.
	// A second reader comes meanwhile, with a longer deadline, and most
	// likely shares the stalled connection.
	var stall *test.Armed
	queued := make(chan error, 1)
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := p.Mailbox(short, "INBOX", func(c *imapclient.Client, _ *imapclient.MailboxStatus) error {
		stall = proxy.Arm(test.Fault{Stall: true, Dir: test.ToClient, OpenOnly: true})
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := poolBody(ctx, p, "INBOX", uid)
			queued <- err
		}()
		_, err := c.UIDFetchBody(short, uid, "", 0, -1, new(bytes.Buffer))
		return err
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read during the stall: %v, want its deadline passed", err)
	}
	defer stall.Release()
	// It is told at once that its connection is gone (or, if it came
	// late, was served on a new one): it does not wait out its deadline.
	if err := <-queued; err != nil && !errors.Is(err, imapclient.ErrAbort) {
		t.Errorf("the reader queued behind the stall: %v, want ErrAbort or its message", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := poolBody(ctx, p, "INBOX", uid)
	if err != nil {
		t.Fatalf("the next read, with the stalled connection still open: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Errorf("read %q, want %q", got, msg)
	}
	if st := p.Stats(); st.Dropped != 1 {
		t.Errorf("pool %+v, want the stalled connection dropped", st)
	}
}
