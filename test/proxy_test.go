package test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"imapfs/imapclient"
)

// startEcho runs a TCP echo server on loopback until the test ends.
func startEcho(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func dialProxy(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c
}

// readFor reads what arrives on c within d.
func readFor(c net.Conn, d time.Duration) (string, error) {
	c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	return string(buf[:n]), err
}

// A round trip takes both delays; pipelined messages each take them once,
// not one after the other.
func TestProxyDelay(t *testing.T) {
	const delay = 25 * time.Millisecond
	p := StartProxy(t, startEcho(t), ProxyOptions{Delay: delay})
	c := dialProxy(t, p)

	start := time.Now()
	if _, err := c.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 5)); err != nil {
		t.Fatal(err)
	}
	if rtt := time.Since(start); rtt < 2*delay {
		t.Errorf("round trip through a %v proxy took %v, want >= %v", delay, rtt, 2*delay)
	}

	// Separate writes a little apart, so that each is its own chunk: a
	// proxy that slept per chunk would take n times the delay.
	const n = 40
	start = time.Now()
	go func() {
		for i := range n {
			c.Write([]byte{byte('a' + i%26)})
			time.Sleep(2 * time.Millisecond)
		}
	}()
	got := make([]byte, n)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took >= n*delay {
		t.Errorf("%d pipelined messages took %v, as long as one after the other (%v)", n, took, n*delay)
	}
	for i, b := range got {
		if b != byte('a'+i%26) {
			t.Fatalf("bytes out of order: %q", got)
		}
	}
	if p.Bytes(ToServer) != 5+n || p.Bytes(ToClient) != 5+n {
		t.Errorf("bytes forwarded = %d to the server, %d to the client, want %d each", p.Bytes(ToServer), p.Bytes(ToClient), 5+n)
	}
}

// startRecorder runs a TCP server on loopback that reads each connection
// to its end and sends what it received on the channel returned.
func startRecorder(t *testing.T) (string, <-chan []byte) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan []byte, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c)
				got <- b
			}()
		}
	}()
	return ln.Addr().String(), got
}

func received(t *testing.T, got <-chan []byte) string {
	t.Helper()
	select {
	case b := <-got:
		return string(b)
	case <-time.After(30 * time.Second):
		t.Fatal("the server saw no end of the connection")
		return ""
	}
}

// A bandwidth limit makes bytes take their time: 128 KiB at 64 KiB/s
// take two seconds, arrive whole and in order, and wait with the sender.
func TestProxyBandwidth(t *testing.T) {
	const rate, size = 64 << 10, 128 << 10
	p := StartProxy(t, startEcho(t), ProxyOptions{ToServerBandwidth: rate})
	c := dialProxy(t, p)
	sent := make([]byte, size)
	for i := range sent {
		sent[i] = byte('a' + i%26)
	}
	start := time.Now()
	go c.Write(sent)
	got := make([]byte, size)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if took, want := time.Since(start), time.Duration(size/rate)*time.Second*3/4; took < want {
		t.Errorf("%d bytes at %d bytes/s took %v, want at least %v", size, rate, took, want)
	}
	if !bytes.Equal(got, sent) {
		t.Error("the bytes changed on the way")
	}
}

// A cut after N bytes forwards exactly N, then closes both sides, on every
// connection it covers.
func TestProxyCutAfterBytes(t *testing.T) {
	addr, got := startRecorder(t)
	p := StartProxy(t, addr, ProxyOptions{})
	f := p.Arm(Fault{Dir: ToServer, AfterBytes: 10})
	for range 2 {
		c := dialProxy(t, p)
		c.Write([]byte("0123456789abcdef"))
		if r := received(t, got); r != "0123456789" {
			t.Errorf("the server received %q, want the first 10 bytes", r)
		}
		if _, err := readFor(c, 10*time.Second); err == nil || isTimeout(err) {
			t.Errorf("the client's side is still open after the cut: %v", err)
		}
	}
	select {
	case <-f.Fired():
	default:
		t.Error("the fault did not say it fired")
	}
	f.Release()
	c := dialProxy(t, p)
	c.Write([]byte("after the release"))
	c.Close()
	if r := received(t, got); r != "after the release" {
		t.Errorf("after Release the server received %q", r)
	}
	if p.Accepted() != 3 {
		t.Errorf("Accepted = %d, want 3", p.Accepted())
	}
}

// A cut at a command stops right before the command, or right after its
// last line, literals (synchronizing or not) included.
func TestProxyCutAtCommand(t *testing.T) {
	const (
		first  = "a1 APPEND INBOX {5+}\r\nhello\r\n"
		second = "a2 append INBOX (\\Seen) {3}\r\nxyz {2}\r\nab\r\n"
		third  = "a3 UID EXPUNGE 1\r\n"
	)
	for _, tc := range []struct {
		fault Fault
		want  string
	}{
		{Fault{Command: "APPEND", Nth: 2, AfterCommand: true}, first + second},
		{Fault{Command: "APPEND", Nth: 2}, first},
		{Fault{Command: "UID EXPUNGE"}, first + second},
		{Fault{Command: "uid expunge", AfterCommand: true}, first + second + third},
	} {
		addr, got := startRecorder(t)
		p := StartProxy(t, addr, ProxyOptions{})
		f := p.Arm(tc.fault)
		c := dialProxy(t, p)
		c.Write([]byte(first + second + third + "a4 NOOP\r\n"))
		if r := received(t, got); r != tc.want {
			t.Errorf("%+v: the server received %q, want %q", tc.fault, r, tc.want)
		}
		<-f.Fired()
	}
}

// A stall holds the bytes with the connection open until released; the
// bytes held then arrive in order.
func TestProxyStall(t *testing.T) {
	p := StartProxy(t, startEcho(t), ProxyOptions{})
	c := dialProxy(t, p)
	stall := p.Stall(ToClient)
	c.Write([]byte("one "))
	c.Write([]byte("two\n"))
	if got, err := readFor(c, 200*time.Millisecond); !isTimeout(err) {
		t.Fatalf("during the stall: read %q, %v; want nothing and the connection open", got, err)
	}
	stall.Release()
	got := make([]byte, 8)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "one two\n" {
		t.Fatalf("after the stall: %q, %v", got, err)
	}

	// A stall armed for the next connection only leaves this one alone.
	next := p.Arm(Fault{Stall: true, NextOnly: true})
	c.Write([]byte("free\n"))
	if _, err := io.ReadFull(c, make([]byte, 5)); err != nil {
		t.Fatal(err)
	}
	c2 := dialProxy(t, p)
	c2.Write([]byte("held\n"))
	if got, err := readFor(c2, 200*time.Millisecond); !isTimeout(err) {
		t.Fatalf("next connection: read %q, %v; want it stalled", got, err)
	}
	next.Release()
	if _, err := io.ReadFull(c2, make([]byte, 5)); err != nil {
		t.Fatal(err)
	}

	// One for the connections open now leaves later ones alone.
	open := p.Arm(Fault{Stall: true, OpenOnly: true})
	defer open.Release()
	c3 := dialProxy(t, p)
	c3.Write([]byte("new\n"))
	if _, err := io.ReadFull(c3, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("old\n"))
	if got, err := readFor(c, 200*time.Millisecond); !isTimeout(err) {
		t.Fatalf("open connection: read %q, %v; want it stalled", got, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// DropAll cuts the open connections; Refuse closes new ones until stopped.
func TestProxyDropAndRefuse(t *testing.T) {
	p := StartProxy(t, startEcho(t), ProxyOptions{})
	c := dialProxy(t, p)
	c.Write([]byte("hi\n"))
	io.ReadFull(c, make([]byte, 3))
	if p.Open() != 1 {
		t.Errorf("Open = %d, want 1", p.Open())
	}
	p.DropAll()
	if got, err := readFor(c, 10*time.Second); err == nil || isTimeout(err) {
		t.Errorf("after DropAll: read %q, %v; want the connection closed", got, err)
	}

	stop := p.Refuse()
	r := dialProxy(t, p)
	if got, err := readFor(r, 10*time.Second); err == nil || isTimeout(err) {
		t.Errorf("while refusing: read %q, %v; want the connection closed", got, err)
	}
	stop()
	c = dialProxy(t, p)
	c.Write([]byte("back\n"))
	if _, err := io.ReadFull(c, make([]byte, 5)); err != nil {
		t.Errorf("after Refuse stopped: %v", err)
	}
	if p.Accepted() != 3 {
		t.Errorf("Accepted = %d, want 3", p.Accepted())
	}
}

// A cut at a command acts before the command reaches the server, or after
// all of it (a large literal included) did.
func TestProxyCommandFaults(t *testing.T) {
	s := SharedDovecot(t)
	u := s.NewUser(t)
	uids := s.Seed(t, u, "INBOX", Message{Body: []byte("Subject: gone?\r\n\r\nx\r\n"), Flags: []string{`\Deleted`}})
	p := StartProxy(t, s.Addr(), ProxyOptions{})
	session := func() *Raw {
		t.Helper()
		c, err := DialRaw(s.Via(p), Plaintext)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.conn.Close() })
		if err := c.Login(u); err != nil {
			t.Fatal(err)
		}
		return c
	}

	t.Run("before UID EXPUNGE", func(t *testing.T) {
		f := p.Arm(Fault{Command: "UID EXPUNGE"})
		defer f.Release()
		c := session()
		if _, _, err := c.Run("SELECT INBOX"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Run("UID EXPUNGE " + strconv.Itoa(int(uids[0]))); err == nil {
			t.Fatal("UID EXPUNGE went through")
		}
		if got := len(s.Messages(t, u, "INBOX")); got != 1 {
			t.Errorf("%d messages in INBOX, want the one UID EXPUNGE never reached", got)
		}
	})

	t.Run("stall after a large APPEND", func(t *testing.T) {
		f := p.Arm(Fault{Command: "APPEND", Nth: 2, AfterCommand: true, Stall: true, Dir: ToClient})
		c := session()
		small := Message{Body: []byte("Subject: one\r\n\r\nsmall\r\n")}
		if _, err := c.appendMessage("INBOX", small); err != nil {
			t.Fatalf("first APPEND: %v", err)
		}
		large := Message{Body: bytes.Repeat([]byte("large literal line\r\n"), 300_000)}
		appended := make(chan error, 1)
		go func() {
			_, err := c.appendMessage("INBOX", large)
			appended <- err
		}()
		<-f.Fired()
		// The server got all of the command and stores the message while
		// its answer is held.
		var msgs []StoredMessage
		for deadline := time.Now().Add(30 * time.Second); len(msgs) < 3 && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
			msgs = s.Messages(t, u, "INBOX")
		}
		if len(msgs) != 3 {
			t.Fatalf("%d messages in INBOX, want 3", len(msgs))
		}
		if got := s.Body(t, u, "INBOX", msgs[2].UID); !bytes.Equal(got, large.Body) {
			t.Errorf("the large message arrived as %d bytes, want %d", len(got), len(large.Body))
		}
		select {
		case err := <-appended:
			t.Fatalf("the APPEND ended during the stall: %v", err)
		default:
		}
		f.Release()
		if err := <-appended; err != nil {
			t.Errorf("the APPEND after the stall: %v", err)
		}
	})
}

// imapfs's own client works through the proxy over implicit TLS, and so
// does a mount.
func TestProxyImapclientAndMount(t *testing.T) {
	s := SharedDovecot(t)
	u := s.NewUser(t)
	body := []byte("Subject: through the proxy\r\n\r\nhello\r\n")
	uids := s.Seed(t, u, "INBOX", Message{Body: body})
	p := StartProxy(t, s.TLSAddr(), ProxyOptions{Delay: 5 * time.Millisecond})

	t.Run("imapclient", func(t *testing.T) {
		pem, err := os.ReadFile(s.TLS.CAFile)
		if err != nil {
			t.Fatal(err)
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(pem)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := imapclient.DialTLS(ctx, p.Addr, &tls.Config{RootCAs: roots}, imapclient.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Login(ctx, u.Name, u.Password); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Select(ctx, "INBOX", true); err != nil {
			t.Fatal(err)
		}
		set, _ := imapclient.ParseSeqSet(strconv.Itoa(int(uids[0])))
		msgs, err := c.UIDFetch(ctx, set, []string{"BODY.PEEK[]"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 1 || !bytes.Equal(msgs[0].Sections["BODY[]"], body) {
			t.Errorf("fetched %+v, want the seeded message", msgs)
		}
	})

	t.Run("mount", func(t *testing.T) {
		RequireFUSE(t)
		before := p.Accepted()
		m := Mount(t, s.Via(p), u)
		got, err := os.ReadFile(filepath.Join(m.Dir, "INBOX", strconv.Itoa(int(uids[0]))+".eml"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, body) {
			t.Errorf("read %q, want %q", got, body)
		}
		if p.Accepted() == before {
			t.Error("the mount did not connect through the proxy")
		}
	})
}

// When the server stops answering on the open connections, a read on the
// mount fails with EIO once --timeout passes (or is served on a new
// connection), and the next reads get a new connection instead of waiting
// behind the stalled ones.
func TestProxyStalledMount(t *testing.T) {
	RequireFUSE(t)
	s := SharedDovecot(t)
	u := s.NewUser(t)
	bodies := [][]byte{
		[]byte("Subject: first\r\n\r\nread during the stall\r\n"),
		[]byte("Subject: second\r\n\r\nread after it\r\n"),
	}
	uids := s.Seed(t, u, "INBOX", Message{Body: bodies[0]}, Message{Body: bodies[1]})
	p := StartProxy(t, s.TLSAddr(), ProxyOptions{})
	m := Mount(t, s.Via(p), u, "--timeout", "2s")
	path := func(uid uint32) string { return filepath.Join(m.Dir, "INBOX", strconv.Itoa(int(uid))+".eml") }
	if _, err := os.ReadDir(filepath.Join(m.Dir, "INBOX")); err != nil {
		t.Fatal(err)
	}

	stall := p.Arm(Fault{Stall: true, Dir: ToClient, OpenOnly: true})
	defer stall.Release()
	// The read either waits on a stalled connection and fails with EIO
	// once --timeout passes, or is served by a new one; never wrong bytes.
	out, err := exec.Command("cat", path(uids[0])).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "Input/output error") || err == nil && !bytes.Equal(out, bodies[0]) {
		t.Fatalf("cat during the stall: %v, %q; want EIO or the message", err, out)
	}
	for i, uid := range uids {
		out, err := exec.Command("cat", path(uid)).CombinedOutput()
		if err != nil || !bytes.Equal(out, bodies[i]) {
			t.Errorf("cat %d.eml with the stalled connection still open: %v, %q", uid, err, out)
		}
	}
	if p.Accepted() < 2 {
		t.Errorf("%d connections made; the reads after the stall needed a new one", p.Accepted())
	}
}
