package imapwire

import (
	"bufio"
	"io"
	"strings"
)

// DefaultMaxStringSize is the initial Decoder.MaxStringSize.
const DefaultMaxStringSize = 1 << 20

// DefaultMaxResponseSize is the initial Decoder.MaxResponseSize: room for
// a SEARCH answer naming a million messages.
const DefaultMaxResponseSize = 16 << 20

// Decoder reads server responses token by token. I/O errors stick: after
// one, every call returns it. A *ProtocolError does not: the caller may
// DiscardLine to skip the rest of the response and go on.
type Decoder struct {
	// MaxStringSize bounds each token read into memory (atom, string, text,
	// a literal read as a string) and the whole of one ReadValue, so that a
	// hostile server cannot make us allocate without limit. Literals of any
	// size can still be streamed with ReadLiteral.
	MaxStringSize int64
	// MaxResponseSize bounds what one response line may make the caller
	// hold: its tokens and the literals read as strings together (lists
	// of flags or numbers, say), not the literals streamed with
	// ReadLiteral.
	MaxResponseSize int64

	r         *bufio.Reader
	err       error
	lineStart bool           // nothing of the current response line is read yet
	lit       *literalReader // the literal handed out last, drained before reading on
	consumed  int64          // bytes consumed, to notice a list element that reads nothing
	held      int64          // bytes of the current response line read into tokens and strings
	scratch   []byte         // room for the token being read (readToken)
	seen      [32]byte       // the last bytes consumed, for error context
}

// NewDecoder returns a Decoder reading responses from r.
func NewDecoder(r *bufio.Reader) *Decoder {
	return &Decoder{MaxStringSize: DefaultMaxStringSize, MaxResponseSize: DefaultMaxResponseSize, r: r, lineStart: true}
}

// Err returns the I/O error that stopped the Decoder, if any.
func (d *Decoder) Err() error { return d.err }

// settle drains what the caller left unread of the last literal, so the
// next token starts where the literal ends.
func (d *Decoder) settle() error {
	if d.err == nil && d.lit != nil {
		lit := d.lit
		d.lit = nil
		io.Copy(io.Discard, lit) // an error is recorded in d.err
	}
	return d.err
}

func (d *Decoder) fail(err error) error {
	if err == io.EOF && !d.lineStart {
		err = io.ErrUnexpectedEOF
	}
	d.err = err
	return err
}

// PeekByte returns the next byte without consuming it.
func (d *Decoder) PeekByte() (byte, error) {
	if err := d.settle(); err != nil {
		return 0, err
	}
	b, err := d.r.ReadByte()
	if err != nil {
		return 0, d.fail(err)
	}
	d.r.UnreadByte()
	return b, nil
}

// Peek returns the next n bytes without consuming them, blocking until they
// arrive; use it only where the grammar says they must come. At the end of
// input it returns fewer bytes and an error.
func (d *Decoder) Peek(n int) ([]byte, error) {
	if err := d.settle(); err != nil {
		return nil, err
	}
	return d.r.Peek(n)
}

// readByte consumes one byte.
func (d *Decoder) readByte() (byte, error) {
	b, err := d.PeekByte()
	if err != nil {
		return 0, err
	}
	d.discard(1)
	return b, nil
}

// discard consumes n buffered bytes, remembering the last few for errors.
func (d *Decoder) discard(n int) {
	p, _ := d.r.Peek(n)
	for i := max(0, n-len(d.seen)); i < n; i++ {
		d.seen[(d.consumed+int64(i))%int64(len(d.seen))] = p[i]
	}
	d.r.Discard(n)
	d.consumed += int64(n)
	d.lineStart = false
}

// acceptByte consumes the next byte if it is b.
func (d *Decoder) acceptByte(b byte) (bool, error) {
	next, err := d.PeekByte()
	if err != nil || next != b {
		return false, err
	}
	_, err = d.readByte()
	return err == nil, err
}

func (d *Decoder) expectByte(what string, b byte) error {
	ok, err := d.acceptByte(b)
	if err == nil && !ok {
		err = d.protocolError(what, "expected "+quoteByte(b))
	}
	return err
}

func quoteByte(b byte) string { return "'" + string(rune(b)) + "'" }

// protocolError describes the failure with the input around it.
func (d *Decoder) protocolError(what, msg string) *ProtocolError {
	n := min(d.consumed, int64(len(d.seen)))
	var seen strings.Builder
	for i := d.consumed - n; i < d.consumed; i++ {
		seen.WriteByte(d.seen[i%int64(len(d.seen))])
	}
	ahead, _ := d.r.Peek(min(d.r.Buffered(), 16))
	return &ProtocolError{What: what, Msg: msg, Seen: seen.String(), Ahead: string(ahead)}
}

// ReadSP consumes a space if one comes next.
func (d *Decoder) ReadSP() bool {
	ok, _ := d.acceptByte(' ')
	return ok
}

// ExpectSP consumes the space that must come next.
func (d *Decoder) ExpectSP() error { return d.expectByte("separator", ' ') }

// ReadCRLF consumes the end of a response line. A bare LF is accepted.
func (d *Decoder) ReadCRLF() error {
	if _, err := d.acceptByte('\r'); err != nil {
		return err
	}
	if err := d.expectByte("end of line", '\n'); err != nil {
		return err
	}
	d.endLine()
	return nil
}

// endLine notes that a response line is over.
func (d *Decoder) endLine() {
	d.lineStart = true
	d.held = 0
}

// hold counts n more bytes of the current response read into memory,
// refusing them past MaxResponseSize.
func (d *Decoder) hold(what string, n int64) error {
	if d.held+n > d.MaxResponseSize {
		return d.tooLarge(what, "the response is larger than its limit")
	}
	d.held += n
	return nil
}

// tooLarge is the ProtocolError of a token or response refused for its
// size.
func (d *Decoder) tooLarge(what, msg string) *ProtocolError {
	err := d.protocolError(what, msg)
	err.Err = ErrResponseTooLarge
	return err
}

// readWhile consumes bytes while keep accepts them, up to MaxStringSize.
// keep sees each byte once, in order, up to the first it refuses. An empty
// result is an error: every token has at least one byte.
func (d *Decoder) readWhile(what string, keep func(byte) bool) (string, error) {
	token, err := d.readToken(what, keep)
	if err != nil {
		return "", err
	}
	return string(token), nil
}

// readToken is readWhile into the Decoder's scratch buffer: the bytes are
// valid until the next read, and reading them allocates nothing once the
// buffer has grown to the longest token.
func (d *Decoder) readToken(what string, keep func(byte) bool) ([]byte, error) {
	token := d.scratch[:0]
	for {
		if err := d.settle(); err != nil {
			return nil, err
		}
		buf, err := d.r.Peek(max(1, d.r.Buffered()))
		if len(buf) == 0 {
			return nil, d.fail(err)
		}
		n := 0
		for n < len(buf) && keep(buf[n]) {
			n++
		}
		if int64(len(token)+n) > d.MaxStringSize {
			return nil, d.tooLarge(what, "too long")
		}
		if err := d.hold(what, int64(n)); err != nil {
			return nil, err
		}
		token = append(token, buf[:n]...)
		d.discard(n)
		if n < len(buf) {
			break
		}
	}
	if cap(token) <= maxScratch {
		d.scratch = token[:0]
	}
	if len(token) == 0 {
		return nil, d.protocolError(what, "missing")
	}
	return token, nil
}

// maxScratch bounds the scratch buffer kept between tokens: a long token
// once (a big SEARCH answer's atom) is not held for the connection's life.
const maxScratch = 4 << 10

// ReadAtom reads an atom as servers send them: flags (\Seen), sequence sets
// (1:*) and lower case are all fine. A "[" opens a section that runs to its
// "]" whatever it holds, so fetch items like BODY[HEADER.FIELDS (TO)]<0>
// read as one atom. The words of the protocol (FETCH, UID, FLAGS...) come
// back without allocating, as they are in every response.
func (d *Decoder) ReadAtom() (string, error) {
	depth := 0
	token, err := d.readToken("atom", func(c byte) bool {
		switch {
		case c == '\r' || c == '\n':
			return false
		case c == '[':
			depth++
		case c == ']' && depth > 0:
			depth--
			return true
		}
		return depth > 0 || !endsAtom(c)
	})
	if err != nil {
		return "", err
	}
	if word, ok := protocolWords[string(token)]; ok {
		return word, nil
	}
	return string(token), nil
}

// protocolWords are the atoms servers send most, by themselves.
var protocolWords = func() map[string]string {
	words := map[string]string{}
	for _, w := range []string{
		"OK", "NO", "BAD", "BYE", "PREAUTH", "NIL",
		"FETCH", "EXISTS", "RECENT", "EXPUNGE", "VANISHED", "STATUS", "SEARCH", "ESEARCH", "LIST", "LSUB", "FLAGS", "CAPABILITY",
		"UID", "RFC822.SIZE", "INTERNALDATE", "MODSEQ", "ENVELOPE", "BODYSTRUCTURE", "BODY[]", "BODY[HEADER]", "BODY[TEXT]",
		"MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "HIGHESTMODSEQ", "SIZE",
	} {
		words[w] = w
	}
	return words
}()

// ReadFlag reads a flag: a keyword, or a system flag like \Seen or \*.
func (d *Decoder) ReadFlag() (string, error) {
	flag, err := d.ReadFlagBytes()
	return string(flag), err
}

// ReadFlagBytes is ReadFlag into a buffer of the Decoder's, valid until
// the next read.
func (d *Decoder) ReadFlagBytes() ([]byte, error) {
	return d.readToken("flag", func(c byte) bool { return !endsAtom(c) })
}

// ReadNumber reads a 32-bit unsigned decimal number.
func (d *Decoder) ReadNumber() (uint32, error) {
	n, err := d.readNumber("number", 1<<32-1)
	return uint32(n), err
}

// ReadNumber64 reads a 63-bit decimal number, the range of mod-sequences
// and literal sizes.
func (d *Decoder) ReadNumber64() (uint64, error) {
	return d.readNumber("number", 1<<63-1)
}

func (d *Decoder) readNumber(what string, limit uint64) (uint64, error) {
	c, err := d.PeekByte()
	if err != nil {
		return 0, err
	}
	if c < '0' || c > '9' {
		return 0, d.protocolError(what, "expected digits")
	}
	digits, err := d.readToken(what, func(c byte) bool { return c >= '0' && c <= '9' })
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, c := range digits {
		if n > (limit-uint64(c-'0'))/10 {
			return 0, d.protocolError(what, "out of range")
		}
		n = n*10 + uint64(c-'0')
	}
	return n, nil
}

// ReadText reads the rest of the line, up to but not including its CRLF.
// The text may be empty.
func (d *Decoder) ReadText() (string, error) {
	if c, err := d.PeekByte(); err != nil || c == '\r' || c == '\n' {
		return "", err
	}
	return d.readWhile("text", func(c byte) bool { return c != '\r' && c != '\n' })
}

// ReadList reads a parenthesised list, calling element for each element.
// Spaces between elements are optional, as in multipart BODYSTRUCTUREs.
func (d *Decoder) ReadList(element func() error) error {
	if err := d.expectByte("list", '('); err != nil {
		return err
	}
	for {
		for d.ReadSP() {
		}
		if closed, err := d.acceptByte(')'); closed || err != nil {
			return err
		}
		before := d.consumed
		if err := element(); err != nil {
			return err
		}
		if d.consumed == before {
			return d.protocolError("list", "element not understood")
		}
	}
}

// Expect consumes the literal protocol text s, such as "* " or "+", or
// fails with a ProtocolError naming what.
func (d *Decoder) Expect(what, s string) error {
	for i := 0; i < len(s); i++ {
		if err := d.expectByte(what, s[i]); err != nil {
			return err
		}
	}
	return nil
}
