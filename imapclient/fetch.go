package imapclient

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
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
//
// A message handed to FetchOptions.Each or Body is the caller's only
// during that call; one returned by Fetch or UIDFetch, or passed on as a
// MessageUpdate, is the caller's for good.
type FetchMessage struct {
	Seq uint32
	UID uint32
	// Flags are shared by the messages that have the same flags (a
	// mailbox has a few lists of flags, whatever its size): not to be
	// modified.
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
	has   itemSet
}

// Has reports whether the server sent an item, by its name in capitals
// ("FLAGS", "UID", "BODY[]<0>", ...).
func (m *FetchMessage) Has(item string) bool { return m.has.has(item) }

// itemSet is a set of fetch item names or classes, in capitals: the
// items of a listing as bits, others in a map made only when one comes,
// so that the usual FETCH response allocates no map.
type itemSet struct {
	known uint8 // bit i: knownItems[i]
	other map[string]bool
}

// knownItems are the items an itemSet holds as bits.
var knownItems = [...]string{FetchUID, FetchFlags, FetchInternalDate, FetchRFC822Size, FetchModSeq}

func knownItemBit(name string) uint8 {
	for i, k := range knownItems {
		if name == k {
			return 1 << i
		}
	}
	return 0
}

func (s *itemSet) add(name string) {
	if bit := knownItemBit(name); bit != 0 {
		s.known |= bit
		return
	}
	if s.other == nil {
		s.other = map[string]bool{}
	}
	s.other[name] = true
}

func (s *itemSet) has(name string) bool {
	if bit := knownItemBit(name); bit != 0 {
		return s.known&bit != 0
	}
	return s.other[name]
}

func (s *itemSet) empty() bool { return s.known == 0 && len(s.other) == 0 }

// all yields the members.
func (s *itemSet) all(yield func(string) bool) {
	for i, k := range knownItems {
		if s.known&(1<<i) != 0 && !yield(k) {
			return
		}
	}
	for name := range s.other {
		if !yield(name) {
			return
		}
	}
}

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
	// Body, if set, receives each body section instead of Sections: it
	// returns where to write the section's size bytes (nil to skip them).
	// It runs on the reader goroutine. msg holds the items read so far,
	// and always its UID in a UID FETCH, whatever order the server sends
	// the items in: a section that comes before the UID is streamed when
	// the requested set names a single UID, and otherwise held in memory
	// (within Options.MaxStringSize for the whole response) until the UID
	// says which message it is.
	Body func(msg *FetchMessage, section string, size int64) io.Writer
	// Each, if set, receives each message of the answer as it is read,
	// and the command returns none: an answer of many messages need not
	// be held whole. It runs on the reader goroutine. msg (here and in
	// Body) is valid only until Each returns: it is reused for the next
	// message, so Each copies what it keeps (Flags, which are never
	// modified, may be kept as they are).
	Each func(msg *FetchMessage)
	// Sent, if set, is called once the command was written to the server,
	// or could not be: a caller that pipelines commands from goroutines of
	// its own starts the next one after it, so that the server gets them,
	// and answers them, in the caller's order.
	Sent func()
}

// fetchTarget is the receiving end of a FETCH-like command.
type fetchTarget struct {
	set  SeqSet
	uid  bool // set holds UIDs
	opts *FetchOptions
	// wants holds the classes of items (see itemClass) whose presence makes
	// a FETCH response an answer to this command: what it asked for, less
	// UID, and less FLAGS and MODSEQ when it asked for more, since servers
	// send those unasked whenever flags change.
	wants    map[string]bool
	messages []*FetchMessage
}

func newFetchTarget(uid bool, set SeqSet, items []string, opts *FetchOptions) *fetchTarget {
	if opts == nil {
		opts = &FetchOptions{}
	}
	return &fetchTarget{set: set, uid: uid, opts: opts, wants: fetchWants(items)}
}

// fetchMacros are the FETCH macros of RFC 3501 6.4.5.
var fetchMacros = map[string][]string{
	"FAST": {FetchFlags, FetchInternalDate, FetchRFC822Size},
	"ALL":  {FetchFlags, FetchInternalDate, FetchRFC822Size, FetchEnvelope},
	"FULL": {FetchFlags, FetchInternalDate, FetchRFC822Size, FetchEnvelope, "BODY"},
}

func fetchWants(items []string) map[string]bool {
	all := map[string]bool{}
	for _, item := range items {
		item = strings.ToUpper(item)
		if macro, ok := fetchMacros[item]; ok {
			for _, m := range macro {
				all[m] = true
			}
			continue
		}
		all[itemClass(item)] = true
	}
	delete(all, FetchUID)
	strong := map[string]bool{}
	for class := range all {
		if !weakClass(class) {
			strong[class] = true
		}
	}
	switch {
	case len(strong) > 0:
		return strong
	case len(all) > 0:
		return all
	}
	return map[string]bool{FetchUID: true}
}

// sectionClass is the class of every body section: servers may spell a
// section's name differently from the request (case, spaces, the
// origin), so sections are told apart from other items, not from each
// other.
const sectionClass = "BODY[]"

// itemClass is the class of a fetch item, by its name in capitals as
// requested or as answered: BODY.PEEK[x]<a.b> and BODY[x]<a> are both
// sectionClass, BINARY.SIZE[x] is BINARY.SIZE, other items are their name.
func itemClass(name string) string {
	switch {
	case isSectionItem(name) || strings.HasPrefix(name, "BODY.PEEK[") || strings.HasPrefix(name, "BINARY.PEEK["):
		return sectionClass
	case strings.HasPrefix(name, "BINARY.SIZE["):
		return "BINARY.SIZE"
	}
	return name
}

// weakClass: items servers also send unasked, when flags change.
func weakClass(class string) bool {
	return class == FetchFlags || class == FetchModSeq || class == FetchUID
}

// weak reports whether the command asked only for items that also come
// unasked, so that its answers look like unilateral flag updates.
func (t *fetchTarget) weak() bool {
	for class := range t.wants {
		if !weakClass(class) {
			return false
		}
	}
	return true
}

// wantsAny reports whether a response with items of these classes may
// answer the command.
func (t *fetchTarget) wantsAny(classes itemSet) bool {
	for class := range classes.all {
		if t.wants[class] {
			return true
		}
	}
	return false
}

// number is the message's number in the target's terms: UID or sequence;
// 0 while unknown.
func (t *fetchTarget) number(m *FetchMessage) uint32 {
	if t.uid {
		return m.UID
	}
	return m.Seq
}

// holds reports whether the message is in the requested set, as far as
// the client can know: a set with "*" may stand for any message (UID
// FETCH 5:* is answered with the last message even when its UID is 4).
func (t *fetchTarget) holds(m *FetchMessage) bool {
	n := t.number(m)
	return n != 0 && (t.set.Dynamic() || t.set.Contains(n))
}

// conflictsWith reports whether a FETCH response could answer both t and
// o: they may name the same message and want a class of item in common.
func (t *fetchTarget) conflictsWith(o *fetchTarget) bool {
	if !t.mayShareMessages(o) {
		return false
	}
	for class := range o.wants {
		if t.wants[class] {
			return true
		}
	}
	return false
}

// mayShareMessages is false only when both name messages by UID, without
// "*", in disjoint sets: a sequence number and a UID may name the same
// message, and "*" any.
func (t *fetchTarget) mayShareMessages(o *fetchTarget) bool {
	if !t.uid || !o.uid || t.set.Dynamic() || o.set.Dynamic() {
		return true
	}
	for _, a := range t.set {
		alo, ahi := a.bounds()
		for _, b := range o.set {
			if blo, bhi := b.bounds(); alo <= bhi && blo <= ahi {
				return true
			}
		}
	}
	return false
}

// singleNumber returns the one number a set names, if it names one.
func singleNumber(set SeqSet) (uint32, bool) {
	if len(set) == 1 && set[0].Start == set[0].Stop && set[0].Start != SeqStar {
		return set[0].Start, true
	}
	return 0, false
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
	cmd.fetch = newFetchTarget(uid, set, items, opts)
	cmd.sent = opts.Sent
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
	partial := offset > 0 || length >= 0
	if partial {
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
	// Only the section asked for, from the origin asked for, is the
	// caller's: bytes from another origin (or without one, the whole
	// section) written at offset would be the wrong bytes in the right
	// place. A whole section may come as from origin 0.
	want := responseSectionName(item)
	answers := func(name string) bool { return name == want || !partial && name == want+"<0>" }
	var wrong string
	var set SeqSet
	set.AddNum(uid)
	_, err := c.UIDFetch(ctx, set, []string{item}, &FetchOptions{
		Body: func(msg *FetchMessage, name string, _ int64) io.Writer {
			if msg.UID != 0 && msg.UID != uid {
				return nil
			}
			if !answers(name) {
				wrong = name
				return nil
			}
			return counter
		},
	})
	if err == nil && wrong != "" {
		err = &imapwire.ProtocolError{What: "FETCH response", Msg: "answered " + wrong + " to " + item}
	}
	return n, err
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// fetchResponse is one "* n FETCH (...)" being read.
type fetchResponse struct {
	msg *FetchMessage
	// candidates are the pending commands that take FETCH responses,
	// oldest first.
	candidates []*command
	classes    itemSet // the classes of the items read so far
	// held are the sections read into memory, within limit bytes in all,
	// until the owner is known.
	held      []heldSection
	heldBytes int64
	limit     int64
	// streamedTo is the command a section was streamed to before the end
	// of the response, and assumedUID the UID its set implied for it.
	streamedTo *command
	assumedUID uint32
	err        error // for the owner: what went wrong with a section
}

type heldSection struct {
	name string
	data []byte
}

// owner returns the command the response answers, or nil for unilateral
// data: the oldest whose set holds the message and that asked for one of
// its items, preferring one that asked for more than flags.
func (r *fetchResponse) owner() *command {
	var weak *command
	for _, cmd := range r.candidates {
		t := cmd.fetch
		if !t.holds(r.msg) || !t.wantsAny(r.classes) {
			continue
		}
		if !t.weak() {
			return cmd
		}
		if weak == nil {
			weak = cmd
		}
	}
	return weak
}

// possibleOwners lists the commands a response that could not be read
// may have answered: those that may hold the message and, if it showed
// any item besides UID, asked for one of its items.
func (r *fetchResponse) possibleOwners() []*command {
	shown := r.classes
	shown.known &^= knownItemBit(FetchUID)
	var owners []*command
	for _, cmd := range r.candidates {
		t := cmd.fetch
		if t.number(r.msg) != 0 && !t.holds(r.msg) {
			continue
		}
		if !shown.empty() && !t.wantsAny(shown) {
			continue
		}
		owners = append(owners, cmd)
	}
	return owners
}

// streamTarget returns the command a body section can be streamed to
// before the whole response is read: the only one that asked for sections
// and may hold the message, if it wants them through FetchOptions.Body and
// the message's number is known to it. A UID FETCH of one UID knows the
// UID before the server says it.
func (r *fetchResponse) streamTarget() *command {
	var only *command
	for _, cmd := range r.candidates {
		t := cmd.fetch
		if !t.wants[sectionClass] || (t.number(r.msg) != 0 && !t.holds(r.msg)) {
			continue
		}
		if only != nil {
			return nil
		}
		only = cmd
	}
	if only == nil || only.fetch.opts.Body == nil {
		return nil
	}
	if t := only.fetch; t.uid && r.msg.UID == 0 {
		uid, ok := singleNumber(t.set)
		if !ok {
			return nil
		}
		r.msg.UID, r.assumedUID = uid, uid
	}
	return only
}

// ErrResponseTooLarge fails a command whose response would have made the
// client hold more than Options.MaxStringSize bytes of body sections in
// memory (FetchOptions.Body streams sections of any size), a token larger
// than Options.MaxStringSize, or more than Options.MaxResponseSize of
// anything else.
var ErrResponseTooLarge = imapwire.ErrResponseTooLarge

// hold reads a section into memory, within what is left of the limit.
// Past it, the command fails and the rest of the section is skipped.
func (r *fetchResponse) hold(name string, rd io.Reader) error {
	left := r.limit - r.heldBytes
	var b bytes.Buffer
	n, err := b.ReadFrom(io.LimitReader(rd, left+1))
	if err != nil {
		return err
	}
	if n > left {
		if r.err == nil {
			r.err = ErrResponseTooLarge
		}
		return nil // the decoder skips what is left unread
	}
	r.heldBytes += n
	r.held = append(r.held, heldSection{name: name, data: b.Bytes()})
	return nil
}

// readFetch reads " (item value ...)" of "* n FETCH" and hands the message
// to the command that asked for it, or to Options.Updates. A malformed
// response is skipped and fails the commands it may have answered.
func (c *Client) readFetch(seq uint32) error {
	msg := c.spareMsg
	c.spareMsg = nil
	if msg == nil {
		msg = &FetchMessage{}
	}
	msg.Seq = seq
	r := &fetchResponse{msg: msg, candidates: c.fetchCandidates[:0], limit: c.dec.MaxStringSize}
	defer func() {
		clear(r.candidates) // a done command holds its answers
		c.fetchCandidates = r.candidates[:0]
	}()
	c.mu.Lock()
	for _, cmd := range c.pending {
		if cmd.fetch != nil && !cmd.heldBack {
			r.candidates = append(r.candidates, cmd)
		}
	}
	c.mu.Unlock()
	err := c.dec.ExpectSP()
	if err == nil {
		err = c.dec.ReadList(func() error { return c.readFetchItem(r) })
	}
	if err == nil {
		err = c.dec.ReadCRLF()
	}
	if err == nil {
		c.deliverFetch(r)
		return nil
	}
	if isProtocolError(err) {
		c.tr.note("skipping malformed FETCH response: " + err.Error())
		for _, cmd := range r.possibleOwners() {
			cmd.setDataErr(err)
		}
		if r.streamedTo != nil {
			r.streamedTo.setDataErr(err)
		}
		return c.dec.DiscardLine()
	}
	return err
}

// deliverFetch hands a whole FETCH response to its owner, with the
// sections held for it, or to Options.Updates.
func (c *Client) deliverFetch(r *fetchResponse) {
	msg := r.msg
	owner := r.owner()
	if s := r.streamedTo; s != nil && (owner != s || msg.UID != r.assumedUID && r.assumedUID != 0) {
		s.setDataErr(&imapwire.ProtocolError{What: "FETCH response",
			Msg: fmt.Sprintf("a body section came for message %d (UID %d), which the command did not ask for", msg.Seq, msg.UID)})
	}
	if owner == nil {
		for _, h := range r.held {
			msg.Sections[h.name] = h.data
		}
		if r.err != nil {
			c.tr.note("unilateral FETCH response: " + r.err.Error())
		}
		c.notify(MessageUpdate{Message: msg})
		return
	}
	if r.err != nil {
		owner.setDataErr(r.err)
	}
	t := owner.fetch
	if t.opts.Each != nil {
		// Each keeps nothing of msg past its call: the next response
		// may be read into it.
		defer func() {
			*msg = FetchMessage{}
			c.spareMsg = msg
		}()
	}
	owner.deliver(func() {
		for _, h := range r.held {
			if t.opts.Body == nil {
				msg.Sections[h.name] = h.data
				continue
			}
			if w := t.opts.Body(msg, h.name, int64(len(h.data))); w != nil {
				if _, err := w.Write(h.data); err != nil {
					owner.setDataErr(err)
				}
			}
		}
		if t.opts.Each != nil {
			t.opts.Each(msg)
			return
		}
		t.messages = append(t.messages, msg)
	})
}

// readFetchItem reads one "NAME value" of a FETCH response.
func (c *Client) readFetchItem(r *fetchResponse) error {
	dec, msg := c.dec, r.msg
	name, err := dec.ReadAtom()
	if err != nil {
		return err
	}
	name = strings.ToUpper(name)
	r.classes.add(itemClass(name))
	if err := dec.ExpectSP(); err != nil {
		return err
	}
	msg.has.add(name)
	switch {
	case name == "UID":
		msg.UID, err = dec.ReadNumber()
	case name == "RFC822.SIZE":
		var n uint64
		n, err = dec.ReadNumber64()
		msg.Size = int64(n)
	case name == "FLAGS":
		msg.Flags, err = c.flagLists.read(dec)
	case name == "INTERNALDATE":
		var b []byte
		if b, err = dec.ReadQuotedBytes(); err == nil {
			if msg.InternalDate, err = parseInternalDateBytes(b); err != nil {
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
		err = c.readSection(r, name)
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

// readSection reads a body section's nstring: streamed to the one command
// that can own it when that is known already, else held in memory, never
// allocating from the size the server announces.
func (c *Client) readSection(r *fetchResponse, name string) error {
	rd, size, err := c.dec.ReadNStringReader()
	if err != nil {
		return err
	}
	if r.msg.Sections == nil {
		r.msg.Sections = map[string][]byte{}
	}
	if rd == nil { // NIL
		r.msg.Sections[name] = nil
		return nil
	}
	if cmd := r.streamTarget(); cmd != nil {
		r.streamedTo = cmd
		return c.streamSection(cmd, r.msg, name, rd, size)
	}
	return r.hold(name, rd)
}

// streamSection writes a section to the command's Body writer in chunks,
// each handed over only while the caller still waits. The chunks go
// through the connection's one buffer (the reader goroutine's): a walk
// streams thousands of sections, and a buffer made for each cost as much
// zeroing as the copy.
func (c *Client) streamSection(cmd *command, msg *FetchMessage, name string, rd io.Reader, size int64) error {
	var w io.Writer
	cmd.deliver(func() { w = cmd.fetch.opts.Body(msg, name, size) })
	if w == nil {
		return nil // the decoder skips what is left unread
	}
	if c.streamBuf == nil {
		c.streamBuf = make([]byte, 64<<10)
	}
	buf := c.streamBuf[:min(size, int64(len(c.streamBuf)))]
	for {
		k, rerr := rd.Read(buf)
		if k > 0 {
			var werr error
			cmd.deliver(func() { _, werr = w.Write(buf[:k]) })
			if werr != nil {
				cmd.setDataErr(werr)
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

// flagLists are the lists of flags a connection has read in FETCH
// responses, each kept once (up to maxFlagLists of them) and handed out
// again when it comes again: a mailbox has a few dozen different lists
// whatever its size, so that a listing allocates no flags per message.
// Used by the reader goroutine only.
type flagLists struct {
	lists map[string][]string // by the flags as sent, each followed by a space
	key   []byte
}

const (
	maxFlagLists   = 1024
	maxFlagListKey = 256
)

// read reads a parenthesised list of flags, system flags in their
// canonical spelling. The list returned may be shared.
func (l *flagLists) read(dec *imapwire.Decoder) ([]string, error) {
	key := l.key[:0]
	err := dec.ReadList(func() error {
		f, err := dec.ReadFlagBytes()
		key = append(append(key, f...), ' ') // a flag holds no space
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(key) <= maxFlagListKey {
		l.key = key[:0]
	}
	if flags, ok := l.lists[string(key)]; ok {
		return flags, nil
	}
	flags := []string{}
	for f := range strings.FieldsSeq(string(key)) {
		flags = append(flags, CanonicalFlag(f))
	}
	flags = slices.Clip(flags) // an append to a shared list copies it
	if len(key) <= maxFlagListKey && len(l.lists) < maxFlagLists {
		if l.lists == nil {
			l.lists = map[string][]string{}
		}
		l.lists[string(key)] = flags
	}
	return flags, nil
}
