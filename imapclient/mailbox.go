package imapclient

import (
	"context"
	"time"

	"imapfs/imapclient/imapwire"
)

// MailboxStatus is what the server says of the selected mailbox: the
// answer to SELECT/EXAMINE, kept up to date by unilateral data.
type MailboxStatus struct {
	Name           string
	ReadOnly       bool
	Flags          []string
	PermanentFlags []string
	Exists         uint32
	Recent         uint32
	Unseen         uint32 // sequence number of the first unseen message, 0 if not given
	UIDValidity    uint32
	UIDNext        uint32
	HighestModSeq  uint64 // 0 without CONDSTORE or with NOMODSEQ
	NoModSeq       bool

	examined bool // opened with EXAMINE, not a SELECT that became read-only
}

func (m *MailboxStatus) apply(upd Update) {
	switch u := upd.(type) {
	case ExistsUpdate:
		m.Exists = u.N
	case RecentUpdate:
		m.Recent = u.N
	case ExpungeUpdate:
		if m.Exists > 0 {
			m.Exists--
		}
	case VanishedUpdate:
		// With QRESYNC, expunges come as VANISHED; EARLIER ones are old news
		// the message count already excludes.
		if !u.Earlier {
			m.Exists -= min(m.Exists, u.UIDs.count())
		}
	case FlagsUpdate:
		m.Flags = u.Flags
	}
}

func (m *MailboxStatus) applyCode(code *imapwire.RespCode) {
	if !code.Known() {
		return // a known name with odd arguments carries no value
	}
	switch code.Name {
	case imapwire.CodeUIDValidity:
		m.UIDValidity = uint32(code.Number)
	case imapwire.CodeUIDNext:
		m.UIDNext = uint32(code.Number)
	case imapwire.CodeUnseen:
		m.Unseen = uint32(code.Number)
	case imapwire.CodeHighestModSeq:
		m.HighestModSeq = code.Number
	case imapwire.CodeNoModSeq:
		m.NoModSeq = true
	case imapwire.CodePermanentFlags:
		m.PermanentFlags = code.List
	case imapwire.CodeReadOnly:
		m.ReadOnly = true
	case imapwire.CodeReadWrite:
		m.ReadOnly = false
	}
}

// Mailbox returns a copy of the selected mailbox's status, or nil when
// none is selected.
func (c *Client) Mailbox() *MailboxStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mailbox == nil || c.state != StateSelected {
		return nil
	}
	m := *c.mailbox
	return &m
}

// Select opens a mailbox (imaplib's select): read-write with SELECT, or
// read-only with EXAMINE when readOnly is set. A failed SELECT leaves no
// mailbox selected, as RFC 3501 says.
func (c *Client) Select(ctx context.Context, mailbox string, readOnly bool) (*MailboxStatus, error) {
	return c.selectMailbox(ctx, mailbox, readOnly, nil)
}

// selectMailbox sends SELECT or EXAMINE with optional parameters (such as
// CONDSTORE or QRESYNC) written by params.
func (c *Client) selectMailbox(ctx context.Context, mailbox string, readOnly bool, params func(*imapwire.Encoder)) (*MailboxStatus, error) {
	name := "SELECT"
	if readOnly {
		name = "EXAMINE"
	}
	status := &MailboxStatus{Name: mailbox, ReadOnly: readOnly, examined: readOnly}
	c.mu.Lock()
	c.beginSelectLocked(status)
	c.mu.Unlock()
	st, err := c.execute(ctx, newCommand(name), func(e *imapwire.Encoder) {
		e.Atom(name).SP().Mailbox(mailbox)
		if params != nil {
			e.SP()
			params(e)
		}
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mailbox != status {
		return nil, errOr(err, &imapwire.ProtocolError{What: name, Msg: "another SELECT ran meanwhile"})
	}
	if err != nil {
		c.selectFailedLocked()
		return nil, err
	}
	return c.openedLocked(status, st), nil
}

// beginSelectLocked makes status the selection the responses to come
// describe, none being open until its SELECT or EXAMINE succeeds.
func (c *Client) beginSelectLocked(status *MailboxStatus) {
	c.mailbox = status
	c.state = StateAuthenticated
}

// openedLocked makes status, the selection, open as its SELECT or
// EXAMINE answered ok, and returns a copy of it for the caller.
func (c *Client) openedLocked(status *MailboxStatus, ok *Status) *MailboxStatus {
	if ok.Code != nil {
		status.applyCode(ok.Code)
	}
	c.state = StateSelected
	c.selectedAt = time.Now()
	m := *status
	return &m
}

// selectFailedLocked: a failed SELECT or EXAMINE leaves nothing selected
// (RFC 3501 6.3.2); beginSelectLocked left the state authenticated.
func (c *Client) selectFailedLocked() {
	c.mailbox = nil
}

// SelectedAt is when the server answered the SELECT or EXAMINE of the
// mailbox selected now (the zero time when none is): what the client
// knows of the mailbox is at least as recent as that.
func (c *Client) SelectedAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mailbox == nil || c.state != StateSelected {
		return time.Time{}
	}
	return c.selectedAt
}

func errOr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// examined reports whether the selected mailbox was opened with EXAMINE.
func (c *Client) examined() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mailbox != nil && c.mailbox.examined
}

// checkWritable refuses a command that changes the selected mailbox once
// the server said it became read-only (imaplib's readonly exception).
func (c *Client) checkWritable() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mailbox != nil && c.mailbox.ReadOnly {
		return ErrReadOnly
	}
	return nil
}
