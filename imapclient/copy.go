package imapclient

import (
	"context"
	"iter"

	"imapfs/imapclient/imapwire"
)

// CopyUID says where copied or moved messages went (RFC 4315 COPYUID):
// the i-th UID of Source became the i-th UID of Dest in the destination
// mailbox, whose UIDVALIDITY is UIDValidity.
type CopyUID struct {
	UIDValidity uint32
	Source      SeqSet
	Dest        SeqSet
}

// Pairs yields each source UID with its destination UID, in order.
func (u *CopyUID) Pairs() iter.Seq2[uint32, uint32] {
	return func(yield func(uint32, uint32) bool) {
		next, stop := iter.Pull(u.Dest.All())
		defer stop()
		for src := range u.Source.All() {
			dst, ok := next()
			if !ok || !yield(src, dst) {
				return
			}
		}
	}
}

// DestOf returns the destination UID of the source UID src.
func (u *CopyUID) DestOf(src uint32) (uint32, bool) {
	for s, d := range u.Pairs() {
		if s == src {
			return d, true
		}
	}
	return 0, false
}

// copyUIDFrom reads a COPYUID code; nil when code is something else.
// Source and destination must hold as many UIDs, or pairing them would
// be a lie.
func copyUIDFrom(code *imapwire.RespCode) (*CopyUID, error) {
	if code == nil || code.Name != imapwire.CodeCopyUID {
		return nil, nil
	}
	src, err1 := ParseSeqSet(code.SourceUIDs)
	dst, err2 := ParseSeqSet(code.UIDs)
	if err1 != nil || err2 != nil || src.Dynamic() || dst.Dynamic() || copySetCount(src) != copySetCount(dst) {
		return nil, &imapwire.ProtocolError{What: "COPYUID", Msg: "source and destination UID sets do not pair: " + code.Raw}
	}
	return &CopyUID{UIDValidity: code.UIDValidity, Source: src, Dest: dst}, nil
}

// Copy copies messages, by sequence number, to the end of mailbox
// (imaplib's copy; RFC 3501 6.4.7). It returns the COPYUID when the
// server has UIDPLUS, else nil. A missing mailbox is a NO with
// imapwire.CodeTryCreate.
func (c *Client) Copy(ctx context.Context, set SeqSet, mailbox string) (*CopyUID, error) {
	return c.copyMessages(ctx, false, set, mailbox)
}

// UIDCopy is Copy by UID (imaplib's uid('COPY', ...)).
func (c *Client) UIDCopy(ctx context.Context, uids SeqSet, mailbox string) (*CopyUID, error) {
	return c.copyMessages(ctx, true, uids, mailbox)
}

func (c *Client) copyMessages(ctx context.Context, uid bool, set SeqSet, mailbox string) (*CopyUID, error) {
	cmd := newCommand(copyCommandName(uid, "COPY"))
	st, err := c.execute(ctx, cmd, func(e *imapwire.Encoder) {
		copyUIDPrefix(e, uid)
		e.Atom("COPY").SP().SeqSet(set.String()).SP().Mailbox(mailbox)
	})
	if err != nil {
		return nil, err
	}
	return copyUIDFrom(st.Code)
}

// MoveResult is what a MOVE did: where the messages went (nil without
// UIDPLUS) and the expunges it caused in the selected mailbox.
type MoveResult struct {
	CopyUID  *CopyUID
	Expunged Expunged
}

// Move moves messages, by sequence number, to mailbox (RFC 6851): the
// server copies them and expunges exactly them, atomically. Without the
// MOVE capability it returns a *NotSupportedError; the caller may then
// UIDCopy, mark the originals \Deleted and UIDExpunge them, in that order.
func (c *Client) Move(ctx context.Context, set SeqSet, mailbox string) (*MoveResult, error) {
	return c.moveMessages(ctx, false, set, mailbox)
}

// UIDMove is Move by UID.
func (c *Client) UIDMove(ctx context.Context, uids SeqSet, mailbox string) (*MoveResult, error) {
	return c.moveMessages(ctx, true, uids, mailbox)
}

func (c *Client) moveMessages(ctx context.Context, uid bool, set SeqSet, mailbox string) (*MoveResult, error) {
	if !c.Has("MOVE") {
		return nil, &NotSupportedError{Capability: "MOVE"}
	}
	if err := c.checkWritable(); err != nil {
		return nil, err
	}
	res := &MoveResult{}
	// RFC 6851 4.3: the COPYUID comes in an untagged OK before the
	// expunges (or, from older servers, in the tagged OK).
	var untaggedCode *imapwire.RespCode
	cmd := newCommand(copyCommandName(uid, "MOVE"))
	cmd.onStatus = func(u StatusUpdate) {
		if u.Type == "OK" && u.Code != nil && u.Code.Name == imapwire.CodeCopyUID {
			untaggedCode = u.Code
		}
	}
	cmd.onExpunge = res.Expunged.add
	st, err := c.execute(ctx, cmd, func(e *imapwire.Encoder) {
		copyUIDPrefix(e, uid)
		e.Atom("MOVE").SP().SeqSet(set.String()).SP().Mailbox(mailbox)
	})
	if err != nil {
		return nil, err
	}
	code := st.Code
	if untaggedCode != nil {
		code = untaggedCode
	}
	if res.CopyUID, err = copyUIDFrom(code); err != nil {
		return nil, err
	}
	return res, nil
}

func copyCommandName(uid bool, name string) string {
	if uid {
		return "UID " + name
	}
	return name
}

func copyUIDPrefix(e *imapwire.Encoder, uid bool) {
	if uid {
		e.Atom("UID").SP()
	}
}

// copySetCount is how many numbers a static set holds, counted without
// listing them (a hostile server may send 1:4294967295).
func copySetCount(set SeqSet) uint64 {
	var n uint64
	for _, r := range set {
		lo, hi := r.bounds()
		n += hi - lo + 1
	}
	return n
}
