package imapclient

import (
	"context"

	"imapfs/imapclient/imapwire"
)

// Expunged lists the messages removed from the selected mailbox while an
// EXPUNGE-like command ran, as the server reported them (which may include
// another client's expunges reported at the same time): sequence numbers
// in the order of its EXPUNGE responses (each counted after the ones
// before it were removed, so removing 3 and 4 may be reported as 3, 3),
// or, once QRESYNC is enabled, UIDs from VANISHED responses.
type Expunged struct {
	Seqs []uint32
	UIDs SeqSet
}

// add records one expunge update; it is a command's onExpunge.
func (x *Expunged) add(upd Update) {
	switch u := upd.(type) {
	case ExpungeUpdate:
		x.Seqs = append(x.Seqs, u.Seq)
	case VanishedUpdate:
		x.UIDs = append(x.UIDs, u.UIDs...)
	}
}

// Expunge permanently removes every message flagged \Deleted in the
// selected mailbox (imaplib's expunge; RFC 3501 6.4.3), also those another
// client flagged: the filesystem never uses it, see UIDExpunge.
func (c *Client) Expunge(ctx context.Context) (Expunged, error) {
	return c.expunge(ctx, nil)
}

// UIDExpunge permanently removes the messages among uids that are flagged
// \Deleted, and no others (RFC 4315 UIDPLUS): the one safe way to delete a
// message while other clients may have flagged theirs.
func (c *Client) UIDExpunge(ctx context.Context, uids SeqSet) (Expunged, error) {
	if !c.Has("UIDPLUS") {
		return Expunged{}, &NotSupportedError{Capability: "UIDPLUS"}
	}
	if len(uids) == 0 {
		// An empty set would be refused by the encoder anyway; say why.
		return Expunged{}, &imapwire.ArgumentError{What: "UID EXPUNGE", Reason: "no UIDs given"}
	}
	return c.expunge(ctx, uids)
}

// expunge sends EXPUNGE, or UID EXPUNGE uids when uids is not nil.
func (c *Client) expunge(ctx context.Context, uids SeqSet) (Expunged, error) {
	if err := c.checkWritable(); err != nil {
		return Expunged{}, err
	}
	var x Expunged
	name := "EXPUNGE"
	if uids != nil {
		name = "UID EXPUNGE"
	}
	cmd := newCommand(name)
	cmd.onExpunge = x.add
	_, err := c.execute(ctx, cmd, func(e *imapwire.Encoder) {
		if uids != nil {
			e.Atom("UID").SP().Atom("EXPUNGE").SP().SeqSet(uids.String())
			return
		}
		e.Atom("EXPUNGE")
	})
	if err != nil {
		return Expunged{}, err
	}
	return x, nil
}
