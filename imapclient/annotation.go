package imapclient

import (
	"bytes"
	"context"
	"slices"

	"imapfs/imapclient/imapwire"
)

// Mailbox annotations of draft-daboo-imap-annotatemore, the predecessor of
// METADATA (RFC 5464) that imaplib's getannotation and setannotation
// speak. Only servers announcing ANNOTATEMORE have it: Cyrus does when
// annotation_enable_legacy_commands is set (otherwise it refuses
// GETANNOTATION with NO), Dovecot never. ANNOTATE-EXPERIMENT-1, which
// Cyrus announces, is RFC 5257's per-message annotations, another thing.
// Prefer GetMetadata and SetMetadata.

// Annotation is one entry of one mailbox: its attributes (such as
// "value.priv", "value.shared", "size.priv") and their values. Attributes
// the server answered with NIL are absent.
type Annotation struct {
	Mailbox string
	Entry   string
	Values  map[string][]byte
}

// GetAnnotation returns the annotations of the mailboxes matching a LIST
// pattern ("" is the server), for the entries and attributes given, which
// may hold the wildcards "*" and "%" (imaplib's getannotation).
func (c *Client) GetAnnotation(ctx context.Context, mailbox string, entries, attributes []string) ([]Annotation, error) {
	if !c.Has("ANNOTATEMORE") {
		return nil, &NotSupportedError{Capability: "ANNOTATEMORE"}
	}
	utf8Names := c.Enabled("UTF8=ACCEPT")
	var result []Annotation
	cmd := newCommand("GETANNOTATION", "ANNOTATION")
	cmd.handle = func(u *untagged) error {
		a, err := annotationRead(u.dec, utf8Names)
		if err != nil {
			return err
		}
		cmd.deliver(func() { result = append(result, a) })
		return nil
	}
	_, err := c.execute(ctx, cmd, func(e *imapwire.Encoder) {
		e.Atom("GETANNOTATION").SP().Mailbox(mailbox).SP()
		e.List(len(entries), func(i int) { e.String(entries[i]) })
		e.SP().List(len(attributes), func(i int) { e.String(attributes[i]) })
	})
	if err != nil {
		return nil, err
	}
	return result, nil
}

// SetAnnotation sets attributes of one entry of a mailbox ("" is the
// server), e.g. {"value.priv": []byte("note")}; a nil value removes the
// attribute (imaplib's setannotation).
func (c *Client) SetAnnotation(ctx context.Context, mailbox, entry string, values map[string][]byte) error {
	if !c.Has("ANNOTATEMORE") {
		return &NotSupportedError{Capability: "ANNOTATEMORE"}
	}
	attrs := make([]string, 0, len(values))
	for attr, value := range values {
		// Checked before anything is sent, as in SetMetadata.
		if bytes.IndexByte(value, 0) >= 0 {
			return &imapwire.ArgumentError{What: "annotation value", Value: entry, Reason: "holds NUL"}
		}
		attrs = append(attrs, attr)
	}
	slices.Sort(attrs) // the same command for the same values
	// The server may answer with the new ANNOTATION; it tells nothing new.
	cmd := newCommand("SETANNOTATION", "ANNOTATION")
	cmd.handle = func(u *untagged) error {
		_, err := annotationRead(u.dec, false)
		return err
	}
	_, err := c.execute(ctx, cmd, func(e *imapwire.Encoder) {
		e.Atom("SETANNOTATION").SP().Mailbox(mailbox).SP().String(entry).SP()
		e.List(len(attrs), func(i int) {
			e.String(attrs[i]).SP()
			if v := values[attrs[i]]; v == nil {
				e.NString(nil)
			} else {
				e.String(string(v))
			}
		})
	})
	return err
}

// annotationRead reads " mailbox entry (attribute value ...)".
func annotationRead(dec *imapwire.Decoder, utf8Names bool) (Annotation, error) {
	var a Annotation
	if err := dec.ExpectSP(); err != nil {
		return a, err
	}
	name, err := dec.ReadAString()
	if err != nil {
		return a, err
	}
	if a.Mailbox = name; !utf8Names {
		if a.Mailbox, err = DecodeMailboxName(name); err != nil {
			return a, &imapwire.ProtocolError{What: "ANNOTATION mailbox", Msg: err.Error()}
		}
	}
	if err := dec.ExpectSP(); err != nil {
		return a, err
	}
	if a.Entry, err = dec.ReadAString(); err != nil {
		return a, err
	}
	if err := dec.ExpectSP(); err != nil {
		return a, err
	}
	a.Values = map[string][]byte{}
	err = dec.ReadList(func() error {
		attr, err := dec.ReadAString()
		if err != nil {
			return err
		}
		if err := dec.ExpectSP(); err != nil {
			return err
		}
		value, err := dec.ReadNString()
		if err == nil && value != nil {
			a.Values[attr] = []byte(*value)
		}
		return err
	})
	return a, err
}
