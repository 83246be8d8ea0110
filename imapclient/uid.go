package imapclient

import (
	"context"
	"strconv"
	"strings"

	"imapfs/imapclient/imapwire"
)

// UIDResult is the answer to a UID command run by name.
type UIDResult struct {
	// Status is the tagged OK.
	Status *Status
	// Messages holds the FETCH responses of UID FETCH, and of UID STORE
	// without .SILENT.
	Messages []*FetchMessage
	// Data holds the responses of UID SEARCH, SORT and THREAD (SEARCH,
	// ESEARCH, SORT, THREAD), one list of values per response.
	Data []imapwire.Value
	// CopyUID is where UID COPY and UID MOVE put the messages (nil
	// without UIDPLUS).
	CopyUID *CopyUID
	// Expunged lists the expunges while UID EXPUNGE or UID MOVE ran.
	Expunged Expunged
}

// uidCommands are the commands UID takes, and the capability each needs
// beyond IMAP4rev1 (THREAD's depends on its algorithm).
var uidCommands = map[string]string{
	"COPY":    "",
	"FETCH":   "",
	"SEARCH":  "",
	"STORE":   "",
	"MOVE":    "MOVE",
	"EXPUNGE": "UIDPLUS",
	"SORT":    "SORT",
	"THREAD":  "",
}

// UID runs "UID command args..." by name (imaplib's uid): command is
// COPY, FETCH, MOVE, SEARCH, SORT, STORE, THREAD or EXPUNGE, in any case,
// and args are written as for Xatom, so nothing reaches the wire
// unchecked. The typed methods (UIDFetch, UIDStore, UIDSearch, UIDCopy,
// UIDMove, UIDExpunge, UIDSort, UIDThread) are the usual way; UID is for
// arguments they do not offer. Commands that change the mailbox are
// refused with ErrReadOnly as theirs are, and ones the server lacks with
// ErrNotSupported, before anything is sent.
func (c *Client) UID(ctx context.Context, command string, args ...imapwire.Value) (*UIDResult, error) {
	command = strings.ToUpper(command)
	capability, ok := uidCommands[command]
	if !ok {
		return nil, &imapwire.ArgumentError{What: "UID command", Reason: command + " is not COPY, FETCH, MOVE, SEARCH, SORT, STORE, THREAD or EXPUNGE"}
	}
	if command == "THREAD" && len(args) > 0 {
		capability = "THREAD=" + strings.ToUpper(args[0].Text)
	}
	if capability != "" && !c.Has(capability) {
		return nil, &NotSupportedError{Capability: capability}
	}
	switch command {
	case "STORE", "MOVE", "EXPUNGE":
		if err := c.checkWritable(); err != nil {
			return nil, err
		}
	}

	res := &UIDResult{}
	name := "UID " + command
	cmd := newCommand(name, "SEARCH", "ESEARCH", "SORT", "THREAD")
	cmd.handle = func(u *untagged) error {
		data, err := uidReadData(u.dec)
		cmd.deliver(func() { res.Data = append(res.Data, data) })
		return err
	}
	switch command {
	case "FETCH", "STORE":
		// The UIDs asked for are the first argument; "$" (SEARCHRES) and
		// the like stand for any.
		set, err := ParseSeqSet(uidFirstText(args))
		if err != nil {
			set = SeqSet{{Start: 1, Stop: SeqStar}}
		}
		cmd.fetch = newFetchTarget(true, set, uidFetchItems(command, args), nil)
	case "MOVE", "EXPUNGE":
		cmd.onExpunge = res.Expunged.add
	}
	var untaggedCopyUID *imapwire.RespCode
	if command == "MOVE" {
		// RFC 6851 4.3: COPYUID may come in an untagged OK.
		cmd.onStatus = func(u StatusUpdate) {
			if u.Type == "OK" && u.Code != nil && u.Code.Name == imapwire.CodeCopyUID {
				untaggedCopyUID = u.Code
			}
		}
	}
	st, err := c.execute(ctx, cmd, func(e *imapwire.Encoder) {
		e.Atom("UID").SP().Atom(command)
		for _, a := range args {
			e.SP()
			xatomArg(e, a)
		}
	})
	if err != nil {
		return nil, err
	}
	res.Status = st
	if cmd.fetch != nil {
		res.Messages = cmd.fetch.messages
	}
	if command == "COPY" || command == "MOVE" {
		code := st.Code
		if untaggedCopyUID != nil {
			code = untaggedCopyUID
		}
		if res.CopyUID, err = copyUIDFrom(code); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// uidFirstText is the text of the first argument, "" without one.
// uidFetchItems names the items a UID FETCH or STORE by name takes
// FETCH responses for, so that they are routed and held apart like those
// of UIDFetch and UIDStore: FETCH's second argument (an item or a list of
// them), FLAGS for STORE.
func uidFetchItems(command string, args []imapwire.Value) []string {
	if command == "STORE" || len(args) < 2 {
		return []string{FetchFlags}
	}
	if args[1].Kind != imapwire.KindList {
		return []string{args[1].Text}
	}
	var items []string
	for _, v := range args[1].List {
		items = append(items, v.Text)
	}
	return items
}

func uidFirstText(args []imapwire.Value) string {
	if len(args) == 0 {
		return ""
	}
	if args[0].Kind == imapwire.KindNumber {
		return strconv.FormatUint(args[0].Number, 10)
	}
	return args[0].Text
}

// uidReadData reads the values of a response up to its CRLF; they may
// come without spaces between them, as THREAD's lists do.
func uidReadData(dec *imapwire.Decoder) (imapwire.Value, error) {
	data := imapwire.Value{Kind: imapwire.KindList}
	for {
		for dec.ReadSP() {
		}
		if b, err := dec.PeekByte(); err != nil {
			return data, err
		} else if b == '\r' || b == '\n' {
			return data, nil
		}
		v, err := dec.ReadValue()
		if err != nil {
			return data, err
		}
		data.List = append(data.List, v)
	}
}
