package imapclient

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"strings"

	"imapfs/imapclient/imapwire"
)

// ErrPlaintext refuses to send a password over a connection without TLS;
// see AllowPlaintext.
var ErrPlaintext = errors.New("imap: refusing to send credentials without TLS")

// AllowPlaintext lets Login and Authenticate send credentials over a
// connection without TLS (imaplib does so silently; we do only when asked).
func (c *Client) AllowPlaintext() {
	c.mu.Lock()
	c.plaintextOK = true
	c.mu.Unlock()
}

// secure reports whether credentials may be sent: over TLS, a tunnel (a
// local command) or with AllowPlaintext.
func (c *Client) secure() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.plaintextOK {
		return true
	}
	switch c.conn.(type) {
	case *tls.Conn, *tunnel:
		return true
	}
	return false
}

// Login authenticates with LOGIN (imaplib's login). The password is never
// logged. The capabilities are asked first if they are not known, and
// again afterwards unless the server said them with its answer.
func (c *Client) Login(ctx context.Context, user, password string) error {
	if !c.secure() {
		return ErrPlaintext
	}
	caps, err := c.knownCapabilities(ctx)
	if err != nil {
		return err
	}
	if caps.Has("LOGINDISABLED") {
		return &NotSupportedError{Capability: "LOGIN (the server says LOGINDISABLED)"}
	}
	seen := c.capabilitiesSeen()
	c.tr.redact.Store(true)
	_, err = c.execute(ctx, newCommand("LOGIN"), func(e *imapwire.Encoder) {
		e.Atom("LOGIN").SP().AString(user).SP().AString(password)
	})
	c.tr.redact.Store(false)
	return c.authenticated(ctx, seen, err)
}

// authenticated moves to the authenticated state after a login that
// began when seen capability lists had been received. The capabilities
// from before the login no longer hold: unless the server sent new ones
// with its answer (in the tagged OK or untagged), they are asked.
func (c *Client) authenticated(ctx context.Context, seen uint64, err error) error {
	if err != nil {
		return err
	}
	c.setState(StateAuthenticated)
	if c.capabilitiesSeen() != seen {
		return nil
	}
	c.forgetCapabilities()
	_, err = c.Capability(ctx)
	return err
}

// SASLMechanism is one SASL mechanism (RFC 4422) for Authenticate.
type SASLMechanism interface {
	// Name is the mechanism's name, e.g. "PLAIN".
	Name() string
	// Start returns the initial response, sent with SASL-IR when the server
	// has it; ok is false for mechanisms that wait for a first challenge.
	Start() (ir []byte, ok bool, err error)
	// Next answers a challenge.
	Next(challenge []byte) ([]byte, error)
}

// Authenticate authenticates with a SASL mechanism (imaplib's authenticate).
// The initial response goes with the command when the server offers
// SASL-IR. Exchanges are never logged. The capabilities are asked first
// if they are not known, and again afterwards unless the server said them
// with its answer.
func (c *Client) Authenticate(ctx context.Context, mech SASLMechanism) error {
	if !c.secure() {
		return ErrPlaintext
	}
	caps, err := c.knownCapabilities(ctx)
	if err != nil {
		return err
	}
	if !caps.Has("AUTH=" + mech.Name()) {
		return &NotSupportedError{Capability: "AUTH=" + mech.Name()}
	}
	ir, hasIR, err := mech.Start()
	if err != nil {
		return err
	}
	seen := c.capabilitiesSeen()
	cmd := newCommand("AUTHENTICATE")
	c.tr.redact.Store(true)
	defer c.tr.redact.Store(false)
	c.writeMu.Lock()
	err = c.send(ctx, cmd, func(e *imapwire.Encoder) {
		e.Atom("AUTHENTICATE").SP().Atom(mech.Name())
		if hasIR && caps.Has("SASL-IR") {
			e.SP().Atom(encodeSASL(ir))
			hasIR = false
		}
	})
	if err == nil {
		err = c.saslExchange(ctx, cmd, mech, ir, hasIR)
	}
	c.disarmContinuation()
	c.writeMu.Unlock()
	if err != nil {
		return err
	}
	_, err = c.wait(ctx, cmd)
	return c.authenticated(ctx, seen, err)
}

// saslExchange answers the server's challenges until the tagged response.
// writeMu is held: nothing else may be sent in between.
func (c *Client) saslExchange(ctx context.Context, cmd *command, mech SASLMechanism, ir []byte, irPending bool) error {
	for {
		text, err := c.awaitContinuation(ctx, cmd)
		if err != nil {
			var statusErr *StatusError
			if errors.As(err, &statusErr) || err == errNoContinuation {
				return nil // the tagged response ended the exchange; wait reports it
			}
			return err
		}
		var resp []byte
		if irPending {
			resp, irPending = ir, false
		} else {
			challenge, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
			if err != nil {
				c.bw.WriteString("*\r\n") // cancel the exchange (RFC 3501 6.2.2)
				c.bw.Flush()
				return err
			}
			if resp, err = mech.Next(challenge); err != nil {
				c.bw.WriteString("*\r\n")
				c.bw.Flush()
				return err
			}
		}
		// Answers to challenges are plain base64, an empty one an empty
		// line; "=" is only for an empty initial response (RFC 4959).
		c.bw.WriteString(base64.StdEncoding.EncodeToString(resp) + "\r\n")
		if err := c.bw.Flush(); err != nil {
			c.fail(err)
			return c.Err()
		}
	}
}

// encodeSASL is base64, with "=" for an empty response (RFC 4959).
func encodeSASL(b []byte) string {
	if len(b) == 0 {
		return "="
	}
	return base64.StdEncoding.EncodeToString(b)
}

// LoginCRAMMD5 authenticates with CRAM-MD5 (imaplib's login_cram_md5).
func (c *Client) LoginCRAMMD5(ctx context.Context, user, password string) error {
	return c.Authenticate(ctx, CRAMMD5(user, password))
}

// ProxyAuth assumes the identity of another user (imaplib's proxyauth,
// Sun's PROXYAUTH extension), for administrators.
func (c *Client) ProxyAuth(ctx context.Context, user string) error {
	_, err := c.execute(ctx, newCommand("PROXYAUTH"), func(e *imapwire.Encoder) {
		e.Atom("PROXYAUTH").SP().AString(user)
	})
	return err
}
