package imapclient

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os/exec"
	"time"

	"imapfs/imapclient/imapwire"
)

// DialTLS connects with implicit TLS (imaplib's IMAP4_SSL), usually to port
// 993. config's ServerName defaults to the host of addr.
func DialTLS(ctx context.Context, addr string, config *tls.Config, opts Options) (*Client, error) {
	config = withServerName(config, addr)
	d := tls.Dialer{Config: config}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return New(ctx, conn, opts)
}

// DialStartTLS connects in plaintext and upgrades with STARTTLS before
// anything else is said, usually to port 143. A server without STARTTLS is
// refused with ErrNotSupported: the caller then decides whether to go on
// in plaintext with DialPlain.
func DialStartTLS(ctx context.Context, addr string, config *tls.Config, opts Options) (*Client, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c, err := New(ctx, conn, opts)
	if err != nil {
		return nil, err
	}
	if err := c.StartTLS(ctx, withServerName(config, addr)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// DialPlain connects without TLS (imaplib's IMAP4). Passwords then cross
// the network in the clear; use it only where that is acceptable.
func DialPlain(ctx context.Context, addr string, opts Options) (*Client, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return New(ctx, conn, opts)
}

// DialTunnel speaks IMAP over the standard input and output of a command
// run with sh -c (imaplib's IMAP4_stream), e.g.
// "ssh mail.example.com /usr/lib/dovecot/imap". The command's standard
// error goes to stderr (nil: discarded). Closing the Client ends it.
func DialTunnel(ctx context.Context, command string, stderr io.Writer, opts Options) (*Client, error) {
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	t := &tunnel{cmd: cmd, in: stdin, out: stdout}
	c, err := New(ctx, t, opts)
	if err != nil {
		return nil, errors.Join(err, t.waitErr())
	}
	return c, nil
}

// tunnel is a command's stdin/stdout as one connection.
type tunnel struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out io.ReadCloser
}

func (t *tunnel) Read(p []byte) (int, error)  { return t.out.Read(p) }
func (t *tunnel) Write(p []byte) (int, error) { return t.in.Write(p) }

// Close ends the conversation: EOF on the command's input, then a kill if
// it lingers.
func (t *tunnel) Close() error {
	t.in.Close()
	done := make(chan struct{})
	go func() {
		t.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.cmd.Process.Kill()
		<-done
	}
	return nil
}

func (t *tunnel) waitErr() error {
	t.Close()
	if t.cmd.ProcessState != nil && !t.cmd.ProcessState.Success() {
		return errors.New("tunnel command: " + t.cmd.ProcessState.String())
	}
	return nil
}

func withServerName(config *tls.Config, addr string) *tls.Config {
	if config == nil {
		config = &tls.Config{}
	}
	if config.ServerName == "" && !config.InsecureSkipVerify {
		config = config.Clone()
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		config.ServerName = host
	}
	return config
}

// StartTLS upgrades the connection (RFC 3501 6.2.1). The capabilities are
// forgotten, also any the tagged OK carried, and asked again over TLS, as
// the RFC requires, since a man in the middle could have altered them.
func (c *Client) StartTLS(ctx context.Context, config *tls.Config) error {
	caps, err := c.knownCapabilities(ctx)
	if err != nil {
		return err
	}
	if !caps.Has("STARTTLS") {
		return &NotSupportedError{Capability: "STARTTLS"}
	}
	c.mu.Lock()
	conn, ok := c.conn.(net.Conn)
	c.mu.Unlock()
	if !ok {
		return errors.New("imap: STARTTLS needs a network connection")
	}
	cmd := newCommand("STARTTLS")
	// The reader does the handshake before it reads on; holding writeMu
	// until then keeps every other command off the plaintext connection.
	cmd.afterOK = func() error {
		tlsConn := tls.Client(conn, config)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			return err
		}
		c.swapConn(tlsConn)
		c.forgetCapabilities()
		return nil
	}
	c.writeMu.Lock()
	err = c.send(ctx, cmd, func(e *imapwire.Encoder) { e.Atom("STARTTLS") })
	c.disarmContinuation()
	if err == nil {
		_, err = c.wait(ctx, cmd)
	}
	c.writeMu.Unlock()
	if err != nil {
		return err
	}
	_, err = c.Capability(ctx)
	return err
}

// swapConn replaces the transport under the reader and writer (STARTTLS).
// It runs on the reader goroutine, while StartTLS holds writeMu.
func (c *Client) swapConn(conn net.Conn) {
	c.mu.Lock()
	c.conn = conn
	c.mu.Unlock()
	r, w := c.opts.counted(conn)
	c.bw.Reset(c.tr.writer(w))
	max := c.dec.MaxStringSize
	c.dec = imapwire.NewDecoder(bufio.NewReaderSize(c.tr.reader(r), 64<<10))
	c.dec.MaxStringSize = max
}
