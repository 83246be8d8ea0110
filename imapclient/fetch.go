package imapclient

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"strings"
	"time"

	"imapfs/imapclient/imapwire"
)

// Fetch data items (RFC 3501 6.4.5, RFC 7162 MODSEQ). Body sections are
// written out, e.g. "BODY.PEEK[]" or "BODY.PEEK[HEADER]<0.2048>".
const (
	FetchUID           = "UID"
	FetchFlags         = "FLAGS"
	FetchInternalDate  = "INTERNALDATE"
	FetchRFC822Size    = "RFC822.SIZE"
	FetchEnvelope      = "ENVELOPE"
	FetchBodyStructure = "BODYSTRUCTURE"
	FetchModSeq        = "MODSEQ"
)

// FetchMessage is one FETCH response. Only the items the server sent are
// set; Has tells which.
type FetchMessage struct {
	Seq          uint32
	UID          uint32
	Flags        []string
	InternalDate time.Time
	Size         int64  // RFC822.SIZE
	ModSeq       uint64 // CONDSTORE
	// Sections holds body sections read into memory, by the name the
	// server gave them ("BODY[]", "BODY[HEADER]<0>", "RFC822.HEADER",
	// "BINARY[1]"), unless FetchOptions.Body streamed them elsewhere. A NIL
	// section is present with a nil value.
	Sections map[string][]byte
	// Items holds the other items, unparsed (ENVELOPE, BODYSTRUCTURE,
	// BINARY.SIZE[...], extension items).
	Items map[string]imapwire.Value
	has   map[string]bool
}

// Has reports whether the server sent an item, by its name in capitals
// ("FLAGS", "UID", "BODY[]<0>", ...).
func (m *FetchMessage) Has(item string) bool { return m.has[item] }

// Section returns a body section read into memory; the name may be the one
// requested ("BODY.PEEK[]<0.100>"), since the server answers without PEEK
// and with the origin only.
func (m *FetchMessage) Section(name string) ([]byte, bool) {
	b, ok := m.Sections[responseSectionName(name)]
	return b, ok
}

// responseSectionName maps a requested section to the name it comes back
// under: BODY.PEEK[x]<a.b> is answered as BODY[x]<a>.
func responseSectionName(name string) string {
	name = strings.ToUpper(name)
	if rest, ok := strings.CutPrefix(name, "BODY.PEEK["); ok {
		name = "BODY[" + rest
	}
	if rest, ok := strings.CutPrefix(name, "BINARY.PEEK["); ok {
		name = "BINARY[" + rest
	}
	if i := strings.LastIndexByte(name, '<'); i >= 0 {
		if dot := strings.IndexByte(name[i:], '.'); dot >= 0 {
			name = name[:i+dot] + ">"
		}
	}
	return name
}

// FetchOptions are the optional parts of a FETCH.
type FetchOptions struct {
	// ChangedSince (CONDSTORE) returns only messages whose MODSEQ is
	// greater.
	ChangedSince uint64
	// Vanished (QRESYNC, UID FETCH with ChangedSince only) also reports
	// expunged UIDs as a VanishedUpdate with Earlier set.
	Vanished bool
	// Body, if set, receives each body section as it streams in, instead
	// of Sections: it returns where to write the section's size bytes
	// (nil to skip them). msg holds the items read so far (UID comes
	// first from every server we know). It runs on the reader goroutine.
	Body func(msg *FetchMessage, section string, size int64) io.Writer
}

// fetchTarget is the receiving end of a FETCH-like command.
type fetchTarget struct {
	set      SeqSet
	uid      bool // set holds UIDs
	opts     *FetchOptions
	messages []*FetchMessage
	// received: the numbers answered already. Servers may answer several
	// pipelined commands for the same message before the first tagged OK,
	// so a second answer belongs to the next command that asked.
	received map[uint32]bool
}

// number is the message's number in the target's terms: UID or sequence.
func (t *fetchTarget) number(m *FetchMessage) uint32 {
	if t.uid {
		return m.UID
	}
	return m.Seq
}

func (t *fetchTarget) matches(m *FetchMessage) bool {
	n := t.number(m)
	if n == 0 || t.received[n] {
		return false
	}
	for _, r := range t.set {
		if r.Start == SeqStar && r.Stop == SeqStar {
			return true // "*" is whatever the last message is
		}
	}
	return t.set.Contains(n)
}

// Fetch runs FETCH on message sequence numbers (imaplib's fetch).
func (c *Client) Fetch(ctx context.Context, set SeqSet, items []string, opts *FetchOptions) ([]*FetchMessage, error) {
	return c.fetch(ctx, false, set, items, opts)
}

// UIDFetch runs UID FETCH (imaplib's uid('FETCH', ...)). The UID item is
// always returned.
func (c *Client) UIDFetch(ctx context.Context, uids SeqSet, items []string, opts *FetchOptions) ([]*FetchMessage, error) {
	return c.fetch(ctx, true, uids, items, opts)
}

func (c *Client) fetch(ctx context.Context, uid bool, set SeqSet, items []string, opts *FetchOptions) ([]*FetchMessage, error) {
	if opts == nil {
		opts = &FetchOptions{}
	}
	name := "FETCH"
	if uid {
		name = "UID FETCH"
	}
	cmd := newCommand(name)
	cmd.fetch = &fetchTarget{set: set, uid: uid, opts: opts, received: map[uint32]bool{}}
	_, err := c.execute(ctx, cmd, func(e *imapwire.Encoder) {
		if uid {
			e.Atom("UID").SP()
		}
		e.Atom("FETCH").SP().SeqSet(set.String()).SP()
		e.List(len(items), func(i int) { e.FetchAtt(items[i]) })
		if opts.ChangedSince > 0 {
			e.SP().BeginList().Atom("CHANGEDSINCE").SP().Number64(opts.ChangedSince)
			if opts.Vanished {
				e.SP().Atom("VANISHED")
			}
			e.EndList()
		}
	})
	if err != nil {
		return nil, err
	}
	return cmd.fetch.messages, nil
}

// UIDFetchBody streams the bytes of one message's section into w with
// BODY.PEEK (never setting \Seen): from offset, at most length bytes
// (length < 0: to the end). It returns how many bytes the server sent; a
// message that does not exist (any more) gives 0 bytes and no error, as
// IMAP does, so callers check n against what they expect.
func (c *Client) UIDFetchBody(ctx context.Context, uid uint32, section string, offset, length int64, w io.Writer) (int64, error) {
	item := "BODY.PEEK[" + section + "]"
	if offset > 0 || length >= 0 {
		if length < 0 {
			length = 1<<32 - 1 - offset
		}
		item += "<" + itoa(offset) + "." + itoa(length) + ">"
	}
	var n int64
	counter := writerFunc(func(p []byte) (int, error) {
		k, err := w.Write(p)
		n += int64(k)
		return k, err
	})
	var set SeqSet
	set.AddNum(uid)
	_, err := c.UIDFetch(ctx, set, []string{item}, &FetchOptions{
		Body: func(msg *FetchMessage, _ string, _ int64) io.Writer {
			if msg.UID != 0 && msg.UID != uid {
				return nil
			}
			return counter
		},
	})
	return n, err
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// readFetch reads " (item value ...)" of "* n FETCH" and hands the message
// to the command that asked for it, or to Options.Updates.
func (c *Client) readFetch(seq uint32) error {
	var candidates []*command
	c.mu.Lock()
	for _, cmd := range c.pending {
		if cmd.fetch != nil {
			candidates = append(candidates, cmd)
		}
	}
	c.mu.Unlock()
	msg := &FetchMessage{Seq: seq, has: map[string]bool{}}
	// The oldest pending command whose set holds the message owns it:
	// several may ask for the same message, and are answered in order.
	owner := func() *command {
		for _, cmd := range candidates {
			if cmd.fetch.matches(msg) {
				return cmd
			}
		}
		return nil
	}
	if err := c.dec.ExpectSP(); err != nil {
		return err
	}
	err := c.dec.ReadList(func() error { return c.readFetchItem(msg, owner) })
	if err != nil {
		return err
	}
	if err := c.dec.ReadCRLF(); err != nil {
		return err
	}
	if cmd := owner(); cmd != nil {
		t := cmd.fetch
		t.received[t.number(msg)] = true // only the reader goroutine uses it
		cmd.deliver(func() { t.messages = append(t.messages, msg) })
		return nil
	}
	c.notify(MessageUpdate{Message: msg})
	return nil
}

// readFetchItem reads one "NAME value" of a FETCH response.
func (c *Client) readFetchItem(msg *FetchMessage, owner func() *command) error {
	dec := c.dec
	name, err := dec.ReadAtom()
	if err != nil {
		return err
	}
	name = strings.ToUpper(name)
	if err := dec.ExpectSP(); err != nil {
		return err
	}
	msg.has[name] = true
	switch {
	case name == "UID":
		msg.UID, err = dec.ReadNumber()
	case name == "RFC822.SIZE":
		var n uint64
		n, err = dec.ReadNumber64()
		msg.Size = int64(n)
	case name == "FLAGS":
		msg.Flags = []string{}
		err = dec.ReadList(func() error { return appendFlag(&msg.Flags, dec) })
	case name == "INTERNALDATE":
		var s string
		if s, err = dec.ReadQuoted(); err == nil {
			if msg.InternalDate, err = ParseInternalDate(s); err != nil {
				err = &imapwire.ProtocolError{What: "INTERNALDATE", Msg: err.Error()}
			}
		}
	case name == "MODSEQ":
		err = dec.ReadList(func() error {
			var e error
			msg.ModSeq, e = dec.ReadNumber64()
			return e
		})
	case isSectionItem(name):
		err = c.readSection(msg, name, owner())
	default:
		var v imapwire.Value
		if v, err = dec.ReadValue(); err == nil {
			if msg.Items == nil {
				msg.Items = map[string]imapwire.Value{}
			}
			msg.Items[name] = v
		}
	}
	return err
}

// isSectionItem: items whose value is message content.
func isSectionItem(name string) bool {
	return strings.HasPrefix(name, "BODY[") || strings.HasPrefix(name, "BINARY[") ||
		name == "RFC822" || name == "RFC822.HEADER" || name == "RFC822.TEXT"
}

// maxPreallocatedSection bounds what one announced literal size makes us
// allocate up front.
const maxPreallocatedSection = 256 << 20

// readSection reads a body section's nstring, streaming it to the
// command's Body writer in chunks, each handed over only while the caller
// still waits, or into msg.Sections.
func (c *Client) readSection(msg *FetchMessage, name string, owner *command) error {
	r, size, err := c.dec.ReadNStringReader()
	if err != nil {
		return err
	}
	if msg.Sections == nil {
		msg.Sections = map[string][]byte{}
	}
	if r == nil { // NIL
		msg.Sections[name] = nil
		return nil
	}
	var w io.Writer
	if owner != nil && owner.fetch.opts.Body != nil {
		owner.deliver(func() { w = owner.fetch.opts.Body(msg, name, size) })
		if w == nil {
			return nil // the decoder skips what is left unread
		}
		buf := make([]byte, min(size, 64<<10))
		for {
			k, rerr := r.Read(buf)
			if k > 0 {
				var werr error
				owner.deliver(func() { _, werr = w.Write(buf[:k]) })
				if werr != nil {
					owner.deliver(func() {
						if owner.dataErr == nil {
							owner.dataErr = werr
						}
					})
					return nil
				}
			}
			if rerr == io.EOF {
				return nil
			}
			if rerr != nil {
				return rerr
			}
		}
	}
	// The caller asked for the section in memory: take it in one piece of
	// exactly its size rather than a growing buffer, unless the size is
	// beyond belief, which only a broken server would announce.
	if size <= maxPreallocatedSection {
		data := make([]byte, size)
		if _, err := io.ReadFull(r, data); err != nil {
			return err
		}
		msg.Sections[name] = data
		return nil
	}
	var b bytes.Buffer
	if _, err := io.Copy(&b, r); err != nil {
		return err
	}
	msg.Sections[name] = b.Bytes()
	return nil
}
