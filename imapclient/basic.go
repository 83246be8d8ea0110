package imapclient

import (
	"context"

	"imapfs/imapclient/imapwire"
)

// Capability asks the server's capabilities (imaplib's capability).
func (c *Client) Capability(ctx context.Context) (Capabilities, error) {
	if _, err := c.simple(ctx, "CAPABILITY"); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.caps == nil { // an OK without the list: known to be empty
		c.caps = Capabilities{}
	}
	return c.caps, nil
}

// Noop does nothing, which lets the server report changes (imaplib's noop).
func (c *Client) Noop(ctx context.Context) error {
	_, err := c.simple(ctx, "NOOP")
	return err
}

// Check asks for a checkpoint of the selected mailbox (imaplib's check).
func (c *Client) Check(ctx context.Context) error {
	_, err := c.simple(ctx, "CHECK")
	return err
}

// Logout says goodbye and closes the connection (imaplib's logout).
func (c *Client) Logout(ctx context.Context) error {
	_, err := c.simple(ctx, "LOGOUT")
	c.setState(StateLogout)
	c.Close()
	var bye *ByeError
	if err != nil && (asBye(err, &bye) || c.byeReceived() != nil) {
		return nil // the expected BYE
	}
	return err
}

func asBye(err error, bye **ByeError) bool {
	ae, ok := err.(*AbortError)
	if !ok {
		return false
	}
	b, ok := ae.Err.(*ByeError)
	if ok {
		*bye = b
	}
	return ok
}

// CloseMailbox closes the selected mailbox, expunging its \Deleted
// messages (imaplib's close). Prefer Unselect, which expunges nothing:
// another client's \Deleted messages must survive. After EXAMINE it only
// closes (RFC 3501 6.4.2: nothing is expunged); a SELECTed mailbox that
// became read-only is refused with ErrReadOnly, since the expunge asked
// for would not happen.
func (c *Client) CloseMailbox(ctx context.Context) error {
	if !c.examined() {
		if err := c.checkWritable(); err != nil {
			return err
		}
	}
	_, err := c.simple(ctx, "CLOSE")
	if err == nil {
		c.setState(StateAuthenticated)
	}
	return err
}

// Unselect leaves the selected mailbox without expunging (RFC 3691).
func (c *Client) Unselect(ctx context.Context) error {
	if !c.Has("UNSELECT") {
		return &NotSupportedError{Capability: "UNSELECT"}
	}
	_, err := c.simple(ctx, "UNSELECT")
	if err == nil {
		c.setState(StateAuthenticated)
	}
	return err
}

// Enable turns on extensions (RFC 5161), e.g. "QRESYNC", "UTF8=ACCEPT",
// and returns those the server enabled.
func (c *Client) Enable(ctx context.Context, extensions ...string) ([]string, error) {
	if !c.Has("ENABLE") {
		return nil, &NotSupportedError{Capability: "ENABLE"}
	}
	_, err := c.execute(ctx, newCommand("ENABLE"), func(e *imapwire.Encoder) {
		e.Atom("ENABLE")
		for _, ext := range extensions {
			e.SP().Atom(ext)
		}
	})
	if err != nil {
		return nil, err
	}
	var on []string
	for _, ext := range extensions {
		if c.Enabled(ext) {
			on = append(on, ext)
		}
	}
	return on, nil
}
