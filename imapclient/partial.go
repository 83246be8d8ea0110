package imapclient

import (
	"context"
	"errors"
	"strings"

	"imapfs/imapclient/imapwire"
)

// Partial returns length bytes from offset start of one section of the
// message with sequence number seq (imaplib's partial). part is a section
// specification as in BODY[part]: "" for the whole message, "TEXT",
// "HEADER", "1.2"... It fetches BODY.PEEK[part]<start.length>, the
// IMAP4rev1 form of the obsolete PARTIAL command, so \Seen is never set.
// Fewer bytes come back when the section ends sooner; none, and no error,
// when the message or section does not exist.
func (c *Client) Partial(ctx context.Context, seq uint32, part string, start, length uint32) ([]byte, error) {
	if length == 0 {
		return nil, &imapwire.ArgumentError{What: "partial length", Value: "0", Reason: "must not be zero"}
	}
	item := "BODY.PEEK[" + part + "]<" + itoa(int64(start)) + "." + itoa(int64(length)) + ">"
	var set SeqSet
	set.AddNum(seq)
	msgs, err := c.Fetch(ctx, set, []string{item}, nil)
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if b, ok := m.Section(item); ok {
			return b, nil
		}
	}
	return nil, nil
}

// Recent asks the server for news with NOOP and returns the number of
// \Recent messages in the selected mailbox (imaplib's recent).
func (c *Client) Recent(ctx context.Context) (uint32, error) {
	if err := c.Noop(ctx); err != nil {
		return 0, err
	}
	m := c.Mailbox()
	if m == nil {
		return 0, errors.New("imap: RECENT needs a selected mailbox")
	}
	return m.Recent, nil
}

// Xatom sends a command this package has no method for (imaplib's xatom):
// name followed by args, each written as its Kind says (an atom, which
// may also be a flag or a sequence set; a number; a string, quoted or
// literal as needed; NIL; a list), so nothing reaches the wire unchecked.
// It returns the data of the untagged responses named like the command,
// one list of values per response. Responses the Client itself tracks
// (CAPABILITY, FETCH, EXISTS, FLAGS, OK...) are not among them.
func (c *Client) Xatom(ctx context.Context, name string, args ...imapwire.Value) ([]imapwire.Value, error) {
	var responses []imapwire.Value
	cmd := newCommand(strings.ToUpper(name), strings.ToUpper(name))
	cmd.handle = func(u *untagged) error {
		data := imapwire.Value{Kind: imapwire.KindList}
		for u.dec.ReadSP() {
			if b, err := u.dec.PeekByte(); err != nil {
				return err
			} else if b == '\r' || b == '\n' {
				break // a trailing space
			}
			v, err := u.dec.ReadValue()
			if err != nil {
				return err
			}
			data.List = append(data.List, v)
		}
		cmd.deliver(func() { responses = append(responses, data) })
		return nil
	}
	_, err := c.execute(ctx, cmd, func(e *imapwire.Encoder) {
		e.Atom(name)
		for _, a := range args {
			e.SP()
			xatomArg(e, a)
		}
	})
	if err != nil {
		return nil, err
	}
	return responses, nil
}

// xatomArg writes one typed argument.
func xatomArg(e *imapwire.Encoder, v imapwire.Value) {
	switch v.Kind {
	case imapwire.KindNIL:
		e.NString(nil)
	case imapwire.KindNumber:
		e.Number64(v.Number)
	case imapwire.KindString:
		e.String(v.Text)
	case imapwire.KindList:
		e.List(len(v.List), func(i int) { xatomArg(e, v.List[i]) })
	default:
		switch {
		case strings.HasPrefix(v.Text, `\`):
			e.Flag(v.Text)
		case strings.ContainsAny(v.Text, ":*,"):
			e.SeqSet(v.Text)
		default:
			e.Atom(v.Text)
		}
	}
}
