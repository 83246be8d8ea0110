package imapclient

import (
	"context"

	"imapfs/imapclient/imapwire"
)

// StoreAction is how STORE changes the flags: replace them, add to them,
// or remove from them (FLAGS, +FLAGS, -FLAGS).
type StoreAction int

const (
	StoreReplace StoreAction = iota
	StoreAdd
	StoreRemove
)

func (a StoreAction) item() string {
	return [...]string{"FLAGS", "+FLAGS", "-FLAGS"}[a]
}

// StoreOptions are the optional parts of a STORE.
type StoreOptions struct {
	// Silent asks the server not to answer with the new flags (.SILENT).
	// Once CONDSTORE is in use the server still reports the new MODSEQs
	// (RFC 7162 3.1.3); those FETCH responses reach Options.Updates.
	Silent bool
	// UnchangedSince (CONDSTORE, RFC 7162) changes only the messages whose
	// MODSEQ is not greater; the others are listed in StoreResult.Modified.
	UnchangedSince uint64
}

// StoreResult is what a STORE answered.
type StoreResult struct {
	// Messages holds the resulting flags (and MODSEQ with CONDSTORE), one
	// FetchMessage per message, unless the STORE was silent.
	Messages []*FetchMessage
	// Modified lists the messages UnchangedSince kept from being changed
	// (the MODIFIED response code), as sequence numbers or UIDs like the
	// request. A STORE that changed nothing because of it still succeeds.
	Modified SeqSet
}

// Store changes the flags of messages by sequence number (imaplib's
// store, RFC 3501 6.4.6). Flags are checked with ValidateFlag: \Recent
// cannot be set. An empty list with StoreReplace clears every flag.
func (c *Client) Store(ctx context.Context, set SeqSet, action StoreAction, flags []string, opts *StoreOptions) (*StoreResult, error) {
	return c.store(ctx, false, set, action, flags, opts)
}

// UIDStore is Store by UID (imaplib's uid('STORE', ...)).
func (c *Client) UIDStore(ctx context.Context, uids SeqSet, action StoreAction, flags []string, opts *StoreOptions) (*StoreResult, error) {
	return c.store(ctx, true, uids, action, flags, opts)
}

func (c *Client) store(ctx context.Context, uid bool, set SeqSet, action StoreAction, flags []string, opts *StoreOptions) (*StoreResult, error) {
	if opts == nil {
		opts = &StoreOptions{}
	}
	if action < StoreReplace || action > StoreRemove {
		return nil, &imapwire.ArgumentError{What: "store action", Reason: "not StoreReplace, StoreAdd or StoreRemove"}
	}
	for _, f := range flags {
		if err := ValidateFlag(f); err != nil {
			return nil, err
		}
	}
	if opts.UnchangedSince > 0 && !c.Has("CONDSTORE") {
		return nil, &NotSupportedError{Capability: "CONDSTORE"}
	}
	if err := c.checkWritable(); err != nil {
		return nil, err
	}
	cmd := newCommand(searchUIDName(uid, "STORE"))
	if !opts.Silent {
		cmd.fetch = newFetchTarget(uid, set, []string{FetchFlags}, nil)
	}
	item := action.item()
	if opts.Silent {
		item += ".SILENT"
	}
	st, err := c.execute(ctx, cmd, func(e *imapwire.Encoder) {
		searchWriteUID(e, uid)
		e.Atom("STORE").SP().SeqSet(set.String()).SP()
		if opts.UnchangedSince > 0 {
			e.BeginList().Atom("UNCHANGEDSINCE").SP().Number64(opts.UnchangedSince).EndList().SP()
		}
		e.Atom(item).SP().List(len(flags), func(i int) { e.Flag(flags[i]) })
	})
	if err != nil {
		return nil, err
	}
	res := &StoreResult{}
	if cmd.fetch != nil {
		res.Messages = cmd.fetch.messages
	}
	if st.Code != nil && st.Code.Name == imapwire.CodeModified {
		if res.Modified, err = ParseSeqSet(st.Code.Set); err != nil {
			return nil, &imapwire.ProtocolError{What: "MODIFIED", Msg: err.Error()}
		}
	}
	return res, nil
}
