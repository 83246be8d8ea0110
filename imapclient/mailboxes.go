package imapclient

import (
	"context"

	"imapfs/imapclient/imapwire"
)

// Create creates a mailbox (imaplib's create; RFC 3501 6.3.3). With
// specialUse (e.g. AttrSent) the mailbox is created with those special-use
// attributes (CREATE-SPECIAL-USE, RFC 6154 3). An existing name fails with
// a StatusError, which carries ALREADYEXISTS where the server sends it.
func (c *Client) Create(ctx context.Context, mailbox string, specialUse ...string) error {
	if len(specialUse) > 0 && !c.Has("CREATE-SPECIAL-USE") {
		return &NotSupportedError{Capability: "CREATE-SPECIAL-USE"}
	}
	_, err := c.execute(ctx, newCommand("CREATE"), func(e *imapwire.Encoder) {
		e.Atom("CREATE").SP().Mailbox(mailbox)
		if len(specialUse) > 0 {
			e.SP().BeginList().Atom("USE").SP()
			e.List(len(specialUse), func(i int) { e.Flag(specialUse[i]) })
			e.EndList()
		}
	})
	return err
}

// Delete deletes a mailbox (imaplib's delete; RFC 3501 6.3.4). A missing
// one fails with a StatusError, which carries NONEXISTENT where the server
// sends it.
func (c *Client) Delete(ctx context.Context, mailbox string) error {
	return c.mailboxesOne(ctx, "DELETE", mailbox)
}

// Rename renames a mailbox and its children (imaplib's rename; RFC 3501
// 6.3.5). Renaming INBOX moves its messages to the new mailbox and leaves
// INBOX empty.
func (c *Client) Rename(ctx context.Context, oldName, newName string) error {
	_, err := c.execute(ctx, newCommand("RENAME"), func(e *imapwire.Encoder) {
		e.Atom("RENAME").SP().Mailbox(oldName).SP().Mailbox(newName)
	})
	return err
}

// Subscribe adds a mailbox to the subscriptions LSUB lists (imaplib's
// subscribe; RFC 3501 6.3.6).
func (c *Client) Subscribe(ctx context.Context, mailbox string) error {
	return c.mailboxesOne(ctx, "SUBSCRIBE", mailbox)
}

// Unsubscribe removes a mailbox from the subscriptions (imaplib's
// unsubscribe; RFC 3501 6.3.7).
func (c *Client) Unsubscribe(ctx context.Context, mailbox string) error {
	return c.mailboxesOne(ctx, "UNSUBSCRIBE", mailbox)
}

// mailboxesOne sends a command whose only argument is a mailbox name.
func (c *Client) mailboxesOne(ctx context.Context, name, mailbox string) error {
	_, err := c.execute(ctx, newCommand(name), func(e *imapwire.Encoder) {
		e.Atom(name).SP().Mailbox(mailbox)
	})
	return err
}
