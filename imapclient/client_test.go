package imapclient_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"imapfs/imapclient"
	"imapfs/imapclient/imapwire"
	"imapfs/test"
)

func TestMain(m *testing.M) { test.Main(m) }

func tlsConfig(t *testing.T, s *test.Server) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(s.TLS.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &tls.Config{RootCAs: pool}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// login dials the server with implicit TLS and logs u in.
func login(t *testing.T, s *test.Server, u test.User, opts imapclient.Options) *imapclient.Client {
	t.Helper()
	ctx := ctxT(t)
	c, err := imapclient.DialTLS(ctx, s.TLSAddr(), tlsConfig(t, s), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(ctx, u.Name, u.Password); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConnectEachWay(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		ctx := ctxT(t)
		dials := map[string]func() (*imapclient.Client, error){
			"implicit-tls": func() (*imapclient.Client, error) {
				return imapclient.DialTLS(ctx, s.TLSAddr(), tlsConfig(t, s), imapclient.Options{})
			},
			"starttls": func() (*imapclient.Client, error) {
				return imapclient.DialStartTLS(ctx, s.Addr(), tlsConfig(t, s), imapclient.Options{})
			},
		}
		for name, dial := range dials {
			t.Run(name, func(t *testing.T) {
				c, err := dial()
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if c.State() != imapclient.StateNotAuthenticated || !c.Has("IMAP4rev1") {
					t.Fatalf("state %v caps %v", c.State(), c.Capabilities())
				}
				if c.Has("STARTTLS") {
					t.Error("STARTTLS still announced over TLS")
				}
				if err := c.Login(ctx, s.Alice.Name, s.Alice.Password); err != nil {
					t.Fatal(err)
				}
				if c.State() != imapclient.StateAuthenticated || !c.Has("ACL") || !c.Has("QUOTA") {
					t.Errorf("after login: state %v caps %v", c.State(), c.Capabilities())
				}
				if err := c.Logout(ctx); err != nil {
					t.Errorf("logout: %v", err)
				}
				if !errors.Is(c.Noop(ctx), imapclient.ErrAbort) {
					t.Error("a command after LOGOUT did not fail with ErrAbort")
				}
			})
		}
	})
}

func TestPlaintextNeedsPermission(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		ctx := ctxT(t)
		c, err := imapclient.DialPlain(ctx, s.Addr(), imapclient.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Login(ctx, s.Alice.Name, s.Alice.Password); !errors.Is(err, imapclient.ErrPlaintext) {
			t.Fatalf("login without TLS: %v, want ErrPlaintext", err)
		}
		c.AllowPlaintext()
		if err := c.Login(ctx, s.Alice.Name, s.Alice.Password); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCertificateVerified(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		ctx := ctxT(t)
		if c, err := imapclient.DialTLS(ctx, s.TLSAddr(), nil, imapclient.Options{}); err == nil {
			c.Close()
			t.Fatal("implicit TLS accepted a certificate from an unknown CA")
		}
		if c, err := imapclient.DialStartTLS(ctx, s.Addr(), nil, imapclient.Options{}); err == nil {
			c.Close()
			t.Fatal("STARTTLS accepted a certificate from an unknown CA")
		}
		c, err := imapclient.DialTLS(ctx, s.TLSAddr(), &tls.Config{InsecureSkipVerify: true}, imapclient.Options{})
		if err != nil {
			t.Fatalf("insecure-skip-verify: %v", err)
		}
		c.Close()
	})
}

func TestWrongPassword(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		ctx := ctxT(t)
		c, err := imapclient.DialTLS(ctx, s.TLSAddr(), tlsConfig(t, s), imapclient.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		err = c.Login(ctx, s.Alice.Name, "wrong")
		var se *imapclient.StatusError
		if !errors.Is(err, imapclient.ErrNo) || !errors.As(err, &se) {
			t.Fatalf("wrong password: %v", err)
		}
		if errors.Is(err, imapclient.ErrAbort) {
			t.Error("a NO must not look like an abort")
		}
		if c.State() != imapclient.StateNotAuthenticated {
			t.Errorf("state %v", c.State())
		}
	})
}

func TestAuthenticateMechanisms(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		mechs := []imapclient.SASLMechanism{imapclient.Plain("", u.Name, u.Password), imapclient.Login(u.Name, u.Password)}
		if s.Kind == "dovecot" {
			mechs = append(mechs, imapclient.CRAMMD5(u.Name, u.Password))
		}
		for _, m := range mechs {
			t.Run(m.Name(), func(t *testing.T) {
				ctx := ctxT(t)
				c, err := imapclient.DialTLS(ctx, s.TLSAddr(), tlsConfig(t, s), imapclient.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if err := c.Authenticate(ctx, m); err != nil {
					t.Fatal(err)
				}
				if c.State() != imapclient.StateAuthenticated {
					t.Errorf("state %v", c.State())
				}
			})
		}
		t.Run("wrong", func(t *testing.T) {
			ctx := ctxT(t)
			c, err := imapclient.DialTLS(ctx, s.TLSAddr(), tlsConfig(t, s), imapclient.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Authenticate(ctx, imapclient.Plain("", u.Name, "nope")); !errors.Is(err, imapclient.ErrNo) {
				t.Fatalf("wrong password: %v", err)
			}
			if err := c.Noop(ctx); err != nil {
				t.Fatalf("connection unusable after a failed AUTHENTICATE: %v", err)
			}
		})
	})
}

// seedMessages puts n messages of growing size into u's INBOX.
func seedMessages(t *testing.T, s *test.Server, u test.User, n int) []test.Message {
	var msgs []test.Message
	for i := range n {
		body := fmt.Sprintf("From: sender%d@example.com\r\nSubject: message %d\r\n\r\n%s\r\n", i, i, strings.Repeat("line of text\r\n", i*50))
		msgs = append(msgs, test.Message{Body: []byte(body), Date: time.Date(2025, 1, 1+i, 10, 0, 0, 0, time.UTC), Flags: []string{`\Flagged`}})
	}
	s.Seed(t, u, "INBOX", msgs...)
	return msgs
}

func TestSelectAndFetch(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		seedMessages(t, s, u, 5)
		stored := s.Messages(t, u, "INBOX")
		c := login(t, s, u, imapclient.Options{})
		ctx := ctxT(t)
		mbox, err := c.Select(ctx, "INBOX", false)
		if err != nil {
			t.Fatal(err)
		}
		if mbox.Exists != 5 || mbox.UIDValidity == 0 || mbox.UIDNext != stored[4].UID+1 || mbox.ReadOnly {
			t.Errorf("SELECT: %+v", mbox)
		}
		all, _ := imapclient.ParseSeqSet("1:*")
		msgs, err := c.UIDFetch(ctx, all, []string{imapclient.FetchUID, imapclient.FetchRFC822Size, imapclient.FetchInternalDate, imapclient.FetchFlags}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != len(stored) {
			t.Fatalf("%d messages fetched, server has %d", len(msgs), len(stored))
		}
		for i, m := range msgs {
			want := stored[i]
			flags := slices.DeleteFunc(slices.Clone(m.Flags), func(f string) bool { return f == imapclient.FlagRecent })
			slices.Sort(flags)
			if m.UID != want.UID || m.Size != want.Size || !m.InternalDate.Equal(want.InternalDate) || !slices.Equal(flags, want.Flags) {
				t.Errorf("message %d: uid %d size %d date %v flags %v; server: %+v", i, m.UID, m.Size, m.InternalDate, m.Flags, want)
			}
		}
		// Whole and ranged bodies equal the server's bytes; \Seen stays unset.
		for _, want := range stored {
			body := s.Body(t, u, "INBOX", want.UID)
			var buf bytes.Buffer
			n, err := c.UIDFetchBody(ctx, want.UID, "", 0, -1, &buf)
			if err != nil || n != int64(len(body)) || !bytes.Equal(buf.Bytes(), body) {
				t.Errorf("UID %d: %d bytes, %v; want %d", want.UID, n, err, len(body))
			}
			off, length := int64(len(body)/3), int64(100)
			buf.Reset()
			if _, err := c.UIDFetchBody(ctx, want.UID, "", off, length, &buf); err != nil || !bytes.Equal(buf.Bytes(), body[off:min(off+length, int64(len(body)))]) {
				t.Errorf("UID %d partial: %q, %v", want.UID, buf.Bytes(), err)
			}
		}
		got, err := c.UIDFetch(ctx, all, []string{"BODY.PEEK[HEADER.FIELDS (SUBJECT)]"}, nil)
		if err != nil || len(got) != 5 {
			t.Fatalf("header fetch: %v", err)
		}
		if h, ok := got[2].Section("BODY.PEEK[HEADER.FIELDS (SUBJECT)]"); !ok || !strings.Contains(string(h), "message 2") {
			t.Errorf("header section: %q, %v (sections %v)", h, ok, got[2].Sections)
		}
		for _, m := range s.Messages(t, u, "INBOX") {
			if slices.Contains(m.Flags, `\Seen`) {
				t.Errorf("UID %d became \\Seen by a read", m.UID)
			}
		}
	})
}

// Many goroutines share one connection; every answer reaches its caller.
func TestPipelining(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		seedMessages(t, s, u, 8)
		stored := s.Messages(t, u, "INBOX")
		c := login(t, s, u, imapclient.Options{})
		ctx := ctxT(t)
		if _, err := c.Select(ctx, "INBOX", true); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for round := range 4 {
			for _, m := range stored {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var buf bytes.Buffer
					if _, err := c.UIDFetchBody(ctx, m.UID, "", 0, -1, &buf); err != nil {
						errs <- err
						return
					}
					if want := s.Body(t, u, "INBOX", m.UID); !bytes.Equal(buf.Bytes(), want) {
						errs <- fmt.Errorf("round %d UID %d: got %d bytes, want %d", round, m.UID, buf.Len(), len(want))
					}
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

// slowWriter takes its time, so a cancellation lands mid-transfer.
type slowWriter struct{ n int }

func (w *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(5 * time.Millisecond)
	w.n += len(p)
	return len(p), nil
}

// A cancelled fetch returns promptly and leaves the connection in step.
func TestCancelKeepsConnectionInStep(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		big := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n"), 100_000) // ~7.4 MB
		uids := s.Seed(t, u, "INBOX", test.Message{Body: append([]byte("Subject: big\r\n\r\n"), big...)},
			test.Message{Body: []byte("Subject: small\r\n\r\nsmall\r\n")})
		c := login(t, s, u, imapclient.Options{})
		if _, err := c.Select(ctxT(t), "INBOX", true); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.UIDFetchBody(ctx, uids[0], "", 0, -1, &slowWriter{})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("cancelled fetch: %v", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("cancelled fetch returned after %v", d)
		}
		var buf bytes.Buffer
		if _, err := c.UIDFetchBody(ctxT(t), uids[1], "", 0, -1, &buf); err != nil || !strings.Contains(buf.String(), "small") {
			t.Fatalf("next command on the same connection: %q, %v", buf.String(), err)
		}
	})
}

// Unilateral EXISTS reaches Options.Updates while other commands run.
func TestUnilateralUpdates(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		var mu sync.Mutex
		var updates []imapclient.Update
		c := login(t, s, u, imapclient.Options{Updates: func(upd imapclient.Update) {
			mu.Lock()
			updates = append(updates, upd)
			mu.Unlock()
		}})
		ctx := ctxT(t)
		if _, err := c.Select(ctx, "INBOX", false); err != nil {
			t.Fatal(err)
		}
		s.Seed(t, u, "INBOX", test.Message{Body: []byte("Subject: new\r\n\r\nnew\r\n")})
		deadline := time.Now().Add(5 * time.Second)
		for {
			if err := c.Noop(ctx); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			got := slices.ContainsFunc(updates, func(u imapclient.Update) bool { e, ok := u.(imapclient.ExistsUpdate); return ok && e.N == 1 })
			mu.Unlock()
			if got {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no EXISTS 1 among %v", updates)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if m := c.Mailbox(); m == nil || m.Exists != 1 {
			t.Errorf("mailbox status %+v", m)
		}
	})
}

// The encoder refuses an injected command, and the connection stays usable.
func TestInjectionRefused(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		c := login(t, s, s.NewUser(t), imapclient.Options{})
		ctx := ctxT(t)
		_, err := c.Select(ctx, "INBOX\r\nX1 DELETE INBOX", false)
		var argErr *imapwire.ArgumentError
		if !errors.As(err, &argErr) {
			t.Fatalf("hostile mailbox name: %v", err)
		}
		if err := c.Noop(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestTunnel(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	ctx := ctxT(t)
	var stderr bytes.Buffer
	c, err := imapclient.DialTunnel(ctx, s.TunnelCommand(t, u), &stderr, imapclient.Options{})
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	defer c.Close()
	if c.State() != imapclient.StateAuthenticated {
		t.Errorf("PREAUTH not honoured: state %v", c.State())
	}
	if _, err := c.Select(ctx, "INBOX", false); err != nil {
		t.Fatal(err)
	}
	if err := c.Logout(ctx); err != nil {
		t.Fatal(err)
	}
}

// The debug trace shows the protocol but never the password.
func TestTraceRedactsCredentials(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	var log bytes.Buffer
	var mu sync.Mutex
	logger := slogTo(&lockedWriter{w: &log, mu: &mu})
	c := login(t, s, u, imapclient.Options{Logger: logger, Debug: 2})
	c.Noop(ctxT(t))
	plain, err := imapclient.DialTLS(ctxT(t), s.TLSAddr(), tlsConfig(t, s), imapclient.Options{Logger: logger, Debug: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.Authenticate(ctxT(t), imapclient.Plain("", u.Name, u.Password)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	trace := log.String()
	if !strings.Contains(trace, "LOGIN <redacted>") || !strings.Contains(trace, "AUTHENTICATE PLAIN <redacted>") || !strings.Contains(trace, "NOOP") {
		t.Errorf("trace lacks the commands:\n%s", trace)
	}
	if strings.Contains(trace, u.Password) {
		t.Errorf("trace shows the password:\n%s", trace)
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// A client certificate (imaplib's certfile/keyfile) is presented when the
// server asks for one; without it the server refuses the login.
func TestClientCertificate(t *testing.T) {
	s := test.StartDovecotWith(t, test.DovecotOptions{RequireClientCert: true})
	ctx := ctxT(t)
	certFile, keyFile := s.TLS.ClientCert(t, s.Alice.Name)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	withCert := tlsConfig(t, s)
	withCert.Certificates = []tls.Certificate{cert}
	c, err := imapclient.DialTLS(ctx, s.TLSAddr(), withCert, imapclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(ctx, s.Alice.Name, s.Alice.Password); err != nil {
		t.Fatalf("login with a client certificate: %v", err)
	}

	bare, err := imapclient.DialTLS(ctx, s.TLSAddr(), tlsConfig(t, s), imapclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	if err := bare.Login(ctx, s.Alice.Name, s.Alice.Password); !errors.Is(err, imapclient.ErrNo) {
		t.Fatalf("login without a client certificate: %v, want a NO", err)
	}
}
