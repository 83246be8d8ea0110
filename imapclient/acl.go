package imapclient

import (
	"context"

	"imapfs/imapclient/imapwire"
)

// Access control lists (RFC 4314): imaplib's getacl, setacl, deleteacl,
// myrights, and LISTRIGHTS, which imaplib lacks. Rights are strings of
// one-letter rights such as "lrswipkxtecda".

// ACLEntry is one identifier of a mailbox's access control list and the
// rights it holds.
type ACLEntry struct {
	Identifier string // a user name, "anyone", or a group; "-name" for negative rights
	Rights     string
}

// ACLRights is the answer to LISTRIGHTS: the rights an identifier always
// has on a mailbox, and the rights that can be granted to it, each group
// being granted or revoked as a whole (RFC 4314 section 3.7).
type ACLRights struct {
	Required string
	Optional []string
}

// GetACL returns a mailbox's access control list (imaplib's getacl, RFC
// 4314 GETACL). It needs the 'a' right on the mailbox.
func (c *Client) GetACL(ctx context.Context, mailbox string) ([]ACLEntry, error) {
	if !c.Has("ACL") {
		return nil, &NotSupportedError{Capability: "ACL"}
	}
	var entries []ACLEntry
	cmd := newCommand("GETACL", "ACL")
	cmd.handle = func(u *untagged) error {
		if err := aclSkipMailbox(u.dec); err != nil {
			return err
		}
		var got []ACLEntry
		// "* ACL mailbox" alone is an empty list.
		for u.dec.ReadSP() {
			id, err := u.dec.ReadAString()
			if err != nil {
				return err
			}
			if err := u.dec.ExpectSP(); err != nil {
				return err
			}
			rights, err := u.dec.ReadAString()
			if err != nil {
				return err
			}
			got = append(got, ACLEntry{Identifier: id, Rights: rights})
		}
		cmd.deliver(func() { entries = got })
		return nil
	}
	_, err := c.execute(ctx, cmd, func(e *imapwire.Encoder) {
		e.Atom("GETACL").SP().Mailbox(mailbox)
	})
	if err != nil {
		return nil, err
	}
	return entries, nil
}

// SetACL gives identifier rights on a mailbox (imaplib's setacl, RFC 4314
// SETACL). rights replaces the identifier's rights, or, starting with "+"
// or "-", adds or removes those rights. It needs the 'a' right.
func (c *Client) SetACL(ctx context.Context, mailbox, identifier, rights string) error {
	if !c.Has("ACL") {
		return &NotSupportedError{Capability: "ACL"}
	}
	_, err := c.execute(ctx, newCommand("SETACL"), func(e *imapwire.Encoder) {
		e.Atom("SETACL").SP().Mailbox(mailbox).SP().AString(identifier).SP().AString(rights)
	})
	return err
}

// DeleteACL removes identifier from a mailbox's access control list
// (imaplib's deleteacl, RFC 4314 DELETEACL). It needs the 'a' right.
func (c *Client) DeleteACL(ctx context.Context, mailbox, identifier string) error {
	if !c.Has("ACL") {
		return &NotSupportedError{Capability: "ACL"}
	}
	_, err := c.execute(ctx, newCommand("DELETEACL"), func(e *imapwire.Encoder) {
		e.Atom("DELETEACL").SP().Mailbox(mailbox).SP().AString(identifier)
	})
	return err
}

// MyRights returns the rights the logged-in user has on a mailbox
// (imaplib's myrights, RFC 4314 MYRIGHTS). Any right on the mailbox is
// enough to ask.
func (c *Client) MyRights(ctx context.Context, mailbox string) (string, error) {
	if !c.Has("ACL") {
		return "", &NotSupportedError{Capability: "ACL"}
	}
	var rights string
	cmd := newCommand("MYRIGHTS", "MYRIGHTS")
	cmd.handle = func(u *untagged) error {
		if err := aclSkipMailbox(u.dec); err != nil {
			return err
		}
		if err := u.dec.ExpectSP(); err != nil {
			return err
		}
		r, err := u.dec.ReadAString()
		if err != nil {
			return err
		}
		cmd.deliver(func() { rights = r })
		return nil
	}
	_, err := c.execute(ctx, cmd, func(e *imapwire.Encoder) {
		e.Atom("MYRIGHTS").SP().Mailbox(mailbox)
	})
	return rights, err
}

// ListRights asks which rights identifier may be given on a mailbox (RFC
// 4314 LISTRIGHTS; imaplib has no such method). It needs the 'a' right.
func (c *Client) ListRights(ctx context.Context, mailbox, identifier string) (*ACLRights, error) {
	if !c.Has("ACL") {
		return nil, &NotSupportedError{Capability: "ACL"}
	}
	var rights *ACLRights
	cmd := newCommand("LISTRIGHTS", "LISTRIGHTS")
	cmd.handle = func(u *untagged) error {
		if err := aclSkipMailbox(u.dec); err != nil {
			return err
		}
		// The identifier, then the required rights (Dovecot sends "" for
		// none) and the groups of optional rights.
		if err := u.dec.ExpectSP(); err != nil {
			return err
		}
		if _, err := u.dec.ReadAString(); err != nil {
			return err
		}
		if err := u.dec.ExpectSP(); err != nil {
			return err
		}
		got := &ACLRights{}
		var err error
		if got.Required, err = u.dec.ReadAString(); err != nil {
			return err
		}
		for u.dec.ReadSP() {
			group, err := u.dec.ReadAString()
			if err != nil {
				return err
			}
			got.Optional = append(got.Optional, group)
		}
		cmd.deliver(func() { rights = got })
		return nil
	}
	_, err := c.execute(ctx, cmd, func(e *imapwire.Encoder) {
		e.Atom("LISTRIGHTS").SP().Mailbox(mailbox).SP().AString(identifier)
	})
	if err != nil {
		return nil, err
	}
	if rights == nil {
		return nil, &imapwire.ProtocolError{What: "LISTRIGHTS", Msg: "no LISTRIGHTS response"}
	}
	return rights, nil
}

// aclSkipMailbox reads the " mailbox" that opens ACL, MYRIGHTS and
// LISTRIGHTS responses. The command asked about one mailbox, so the name
// (which the server may spell differently, INBOX in any case) is not
// checked.
func aclSkipMailbox(dec *imapwire.Decoder) error {
	if err := dec.ExpectSP(); err != nil {
		return err
	}
	_, err := dec.ReadAString()
	return err
}
