package imapclient

import (
	"context"
	"errors"
	"io"
	"time"

	"imapfs/imapclient/imapwire"
)

// AppendMessage is one message for APPEND: its bytes, streamed from Body,
// which must yield exactly Size bytes, and what to store with it.
type AppendMessage struct {
	Flags []string  // e.g. \Seen, $Forwarded; \Recent is refused
	Date  time.Time // the INTERNALDATE; zero lets the server use "now"
	Size  int64
	Body  io.Reader
	// Binary sends the content as a literal8 (RFC 3516), the only form that
	// may hold NUL bytes; it needs the BINARY capability. Without it a NUL
	// in Body is found only while streaming and closes the connection.
	Binary bool
}

// AppendUID is where the server stored an appended message (RFC 4315
// APPENDUID). It is zero when the server lacks UIDPLUS.
type AppendUID struct {
	UIDValidity uint32
	UID         uint32
}

// Append stores a message in mailbox (imaplib's append; RFC 3501 6.3.11).
// The content is streamed through a literal, never read whole into memory;
// without LITERAL+ the client waits for the server's go-ahead first, so a
// server that refuses (over quota, no such mailbox) does so before the
// content is sent. A refusal is a *StatusError with its code intact:
// imapwire.CodeTryCreate when the mailbox does not exist,
// imapwire.CodeOverQuota when it is full.
func (c *Client) Append(ctx context.Context, mailbox string, msg AppendMessage) (AppendUID, error) {
	uids, err := c.appendMessages(ctx, mailbox, []AppendMessage{msg})
	if err != nil || uids == nil {
		return AppendUID{}, err
	}
	return uids[0], nil
}

// MultiAppend stores several messages in mailbox with one APPEND (RFC 3502
// MULTIAPPEND): all of them are stored, or none. It returns one AppendUID
// per message, in order, when the server has UIDPLUS, else nil.
func (c *Client) MultiAppend(ctx context.Context, mailbox string, msgs []AppendMessage) ([]AppendUID, error) {
	if !c.Has("MULTIAPPEND") {
		return nil, &NotSupportedError{Capability: "MULTIAPPEND"}
	}
	if len(msgs) == 0 {
		return nil, errors.New("imap: MULTIAPPEND of no messages")
	}
	return c.appendMessages(ctx, mailbox, msgs)
}

func (c *Client) appendMessages(ctx context.Context, mailbox string, msgs []AppendMessage) ([]AppendUID, error) {
	for _, m := range msgs {
		for _, f := range m.Flags {
			if err := ValidateFlag(f); err != nil {
				return nil, err
			}
		}
		if m.Binary && !c.Has("BINARY") {
			return nil, &NotSupportedError{Capability: "BINARY"}
		}
	}
	st, err := c.execute(ctx, newCommand("APPEND"), func(e *imapwire.Encoder) {
		e.Atom("APPEND").SP().Mailbox(mailbox)
		for _, m := range msgs {
			e.SP()
			if len(m.Flags) > 0 {
				e.List(len(m.Flags), func(i int) { e.Flag(m.Flags[i]) }).SP()
			}
			if !m.Date.IsZero() {
				e.Quoted(Time2Internaldate(m.Date)).SP()
			}
			if m.Binary {
				e.Literal8(m.Size, m.Body)
			} else {
				e.Literal(m.Size, m.Body)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return appendUIDs(st, len(msgs))
}

// appendUIDs reads the tagged OK's APPENDUID: one UID per message, in the
// order they were sent.
func appendUIDs(st *Status, n int) ([]AppendUID, error) {
	if st.Code == nil || st.Code.Name != imapwire.CodeAppendUID {
		return nil, nil
	}
	set, err := ParseSeqSet(st.Code.UIDs)
	if err != nil || set.Dynamic() {
		return nil, &imapwire.ProtocolError{What: "APPENDUID", Msg: "bad UID set " + st.Code.UIDs}
	}
	uids := make([]AppendUID, 0, n)
	for uid := range set.All() {
		if len(uids) == n {
			break
		}
		uids = append(uids, AppendUID{UIDValidity: st.Code.UIDValidity, UID: uid})
	}
	if len(uids) != n || copySetCount(set) != uint64(n) {
		return nil, &imapwire.ProtocolError{What: "APPENDUID", Msg: "UID count differs from the messages appended: " + st.Code.UIDs}
	}
	return uids, nil
}
