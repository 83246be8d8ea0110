package imapclient

import (
	"bytes"
	"context"
	"slices"

	"imapfs/imapclient/imapwire"
)

// Metadata (RFC 5464): entries such as "/private/comment" or
// "/shared/comment" attached to a mailbox, or to the server when the
// mailbox is "". imaplib only has the older ANNOTATEMORE draft (see
// GetAnnotation). A refused SETMETADATA carries a METADATA response code
// whose Arg is MAXSIZE (with the limit in Number), TOOMANY or NOPRIVATE.

// MetadataDepth is GETMETADATA's DEPTH option: which entries below the
// ones named are returned as well.
type MetadataDepth string

const (
	MetadataDepthZero     MetadataDepth = ""         // the entries named only
	MetadataDepthOne      MetadataDepth = "1"        // and their children
	MetadataDepthInfinity MetadataDepth = "infinity" // and all their descendants
)

// MetadataOptions are GETMETADATA's options.
type MetadataOptions struct {
	// MaxSize, when not 0, leaves out values larger than this many bytes;
	// Metadata.LongEntries then tells the size of the largest left out.
	MaxSize uint32
	Depth   MetadataDepth
}

// Metadata is the answer to GetMetadata.
type Metadata struct {
	// Entries holds the entries that have a value, by the name the server
	// gave them. Entries without a value (the server's NIL) are absent.
	Entries map[string][]byte
	// LongEntries is the size of the largest value left out because of
	// MetadataOptions.MaxSize (METADATA LONGENTRIES), or 0.
	LongEntries uint64
}

// GetMetadata reads entries of a mailbox, or of the server when mailbox
// is "" (RFC 5464 GETMETADATA). opts may be nil.
func (c *Client) GetMetadata(ctx context.Context, mailbox string, entries []string, opts *MetadataOptions) (*Metadata, error) {
	if err := c.metadataSupported(mailbox); err != nil {
		return nil, err
	}
	got := map[string][]byte{}
	cmd := newCommand("GETMETADATA", "METADATA")
	cmd.handle = func(u *untagged) error {
		if err := u.dec.ExpectSP(); err != nil {
			return err
		}
		if _, err := u.dec.ReadAString(); err != nil {
			return err
		}
		if err := u.dec.ExpectSP(); err != nil {
			return err
		}
		if b, err := u.dec.PeekByte(); err != nil {
			return err
		} else if b != '(' {
			// An unsolicited change notice, a list of entry names (RFC
			// 5464 4.4.2): nothing to deliver.
			for {
				if _, err := u.dec.ReadAString(); err != nil {
					return err
				}
				if !u.dec.ReadSP() {
					return nil
				}
			}
		}
		values := map[string][]byte{}
		err := u.dec.ReadList(func() error {
			entry, err := u.dec.ReadAString()
			if err != nil {
				return err
			}
			if err := u.dec.ExpectSP(); err != nil {
				return err
			}
			value, err := u.dec.ReadNString()
			if err != nil {
				return err
			}
			if value != nil {
				values[entry] = []byte(*value)
			}
			return nil
		})
		if err != nil {
			return err
		}
		cmd.deliver(func() {
			for entry, value := range values {
				got[entry] = value
			}
		})
		return nil
	}
	st, err := c.execute(ctx, cmd, func(e *imapwire.Encoder) {
		e.Atom("GETMETADATA").SP()
		if opts != nil && (opts.MaxSize > 0 || opts.Depth != MetadataDepthZero) {
			e.BeginList()
			if opts.MaxSize > 0 {
				e.Atom("MAXSIZE").SP().Number(opts.MaxSize)
				if opts.Depth != MetadataDepthZero {
					e.SP()
				}
			}
			if opts.Depth != MetadataDepthZero {
				e.Atom("DEPTH").SP().Atom(string(opts.Depth))
			}
			e.EndList().SP()
		}
		e.Mailbox(mailbox).SP()
		e.List(len(entries), func(i int) { e.AString(entries[i]) })
	})
	if err != nil {
		return nil, err
	}
	md := &Metadata{Entries: got}
	if st.Code != nil && st.Code.Name == imapwire.CodeMetadata && st.Code.Arg == "LONGENTRIES" {
		md.LongEntries = st.Code.Number
	}
	return md, nil
}

// SetMetadata sets entries of a mailbox, or of the server when mailbox is
// "" (RFC 5464 SETMETADATA); a nil value removes the entry. Values are
// sent as quoted strings, or as literals when they hold line breaks or
// 8-bit bytes. A value holding NUL is refused before sending: RFC 5464
// would allow it as a literal8, but neither Dovecot (NO [CANNOT]) nor
// Cyrus (BAD) stores one.
func (c *Client) SetMetadata(ctx context.Context, mailbox string, entries map[string][]byte) error {
	if err := c.metadataSupported(mailbox); err != nil {
		return err
	}
	names := make([]string, 0, len(entries))
	for name, value := range entries {
		// Checked before anything is sent: a literal of an earlier value
		// may already be on the wire when the encoder meets the NUL.
		if bytes.IndexByte(value, 0) >= 0 {
			return &imapwire.ArgumentError{What: "metadata value", Value: name, Reason: "holds NUL"}
		}
		names = append(names, name)
	}
	slices.Sort(names) // the same command for the same entries
	_, err := c.execute(ctx, newCommand("SETMETADATA"), func(e *imapwire.Encoder) {
		e.Atom("SETMETADATA").SP().Mailbox(mailbox).SP()
		e.List(len(names), func(i int) {
			e.AString(names[i]).SP()
			if value := entries[names[i]]; value == nil {
				e.NString(nil)
			} else {
				e.String(string(value))
			}
		})
	})
	return err
}

// metadataSupported checks the capability: METADATA covers mailboxes and
// the server, METADATA-SERVER the server alone.
func (c *Client) metadataSupported(mailbox string) error {
	if c.Has("METADATA") || (mailbox == "" && c.Has("METADATA-SERVER")) {
		return nil
	}
	if mailbox == "" {
		return &NotSupportedError{Capability: "METADATA-SERVER"}
	}
	return &NotSupportedError{Capability: "METADATA"}
}
