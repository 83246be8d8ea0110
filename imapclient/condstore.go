package imapclient

import (
	"context"
	"errors"

	"imapfs/imapclient/imapwire"
)

// SelectOptions are the parameters of a SELECT or EXAMINE for CONDSTORE
// and QRESYNC (RFC 7162).
type SelectOptions struct {
	// CondStore asks for MODSEQ tracking (HIGHESTMODSEQ in the status).
	CondStore bool
	// QResync resynchronises a mailbox seen before; it needs ENABLE
	// QRESYNC first (Client.Enable).
	QResync *QResyncParams
}

// QResyncParams is what the client remembers of a mailbox (RFC 7162
// 3.2.5). The server answers, through Options.Updates, with a
// VanishedUpdate (Earlier set) for the UIDs expunged since ModSeq and a
// MessageUpdate for each message whose flags changed since.
type QResyncParams struct {
	UIDValidity uint32
	ModSeq      uint64
	// KnownUIDs, optional, limits the answer to these UIDs.
	KnownUIDs SeqSet
	// KnownSeqs and KnownSeqUIDs, optional, pair some sequence numbers
	// with the UIDs they had, so the server can tell which of KnownUIDs
	// were expunged without listing them all. They need KnownUIDs.
	KnownSeqs, KnownSeqUIDs SeqSet
}

// SelectWith is Select with CONDSTORE or QRESYNC parameters: SELECT
// mailbox (CONDSTORE) or SELECT mailbox (QRESYNC (uidvalidity modseq
// [known-uids [(seqs uids)]])). A nil opts is a plain Select.
func (c *Client) SelectWith(ctx context.Context, mailbox string, readOnly bool, opts *SelectOptions) (*MailboxStatus, error) {
	if opts == nil || (!opts.CondStore && opts.QResync == nil) {
		return c.Select(ctx, mailbox, readOnly)
	}
	if opts.CondStore && !c.Has("CONDSTORE") {
		return nil, &NotSupportedError{Capability: "CONDSTORE"}
	}
	q := opts.QResync
	if q != nil {
		if !c.Has("QRESYNC") {
			return nil, &NotSupportedError{Capability: "QRESYNC"}
		}
		if !c.Enabled("QRESYNC") {
			return nil, errors.New("imap: SELECT (QRESYNC ...) needs ENABLE QRESYNC first")
		}
		if q.UIDValidity == 0 || q.ModSeq == 0 {
			return nil, &imapwire.ArgumentError{What: "QRESYNC parameters", Reason: "UIDVALIDITY and MODSEQ must be non-zero"}
		}
		if (len(q.KnownSeqs) > 0) != (len(q.KnownSeqUIDs) > 0) || (len(q.KnownSeqs) > 0 && len(q.KnownUIDs) == 0) {
			return nil, &imapwire.ArgumentError{What: "QRESYNC parameters", Reason: "KnownSeqs and KnownSeqUIDs go together, and need KnownUIDs"}
		}
	}
	return c.selectMailbox(ctx, mailbox, readOnly, func(e *imapwire.Encoder) {
		e.BeginList()
		if opts.CondStore {
			e.Atom("CONDSTORE")
			if q != nil {
				e.SP()
			}
		}
		if q != nil {
			e.Atom("QRESYNC").SP().BeginList().Number(q.UIDValidity).SP().Number64(q.ModSeq)
			if len(q.KnownUIDs) > 0 {
				e.SP().SeqSet(q.KnownUIDs.String())
				if len(q.KnownSeqs) > 0 {
					e.SP().BeginList().SeqSet(q.KnownSeqs.String()).SP().SeqSet(q.KnownSeqUIDs.String()).EndList()
				}
			}
			e.EndList()
		}
		e.EndList()
	})
}
