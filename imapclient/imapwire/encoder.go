package imapwire

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// EncoderOptions describe what the server lets a command use. They are
// fixed for the lifetime of one Encoder.
type EncoderOptions struct {
	// LiteralPlus: the server has LITERAL+ (RFC 7888), so any literal may be
	// sent without waiting for a continuation.
	LiteralPlus bool
	// LiteralMinus: the server has LITERAL-, so literals of up to 4096 bytes
	// may be sent without waiting.
	LiteralMinus bool
	// UTF8: UTF8=ACCEPT is enabled (RFC 6855): mailbox names travel as UTF-8
	// instead of modified UTF-7, and quoted strings may hold UTF-8.
	UTF8 bool
	// Continue is called after the header of a synchronizing literal has
	// been flushed. It blocks until the server answers: nil for a "+"
	// continuation, an error for a tagged NO or BAD (which ends the command).
	// Without it, synchronizing literals are refused.
	Continue func() error
}

// Encoder writes one command line. Build it with the chained methods, then
// call CRLF. The first error sticks: later calls do nothing and CRLF returns
// it. Until a literal has to go out, the command is held back in the
// Encoder, so a refused argument leaves nothing on the connection.
// Encoders are cheap: make one per command.
type Encoder struct {
	w     *bufio.Writer
	opts  EncoderOptions
	buf   []byte // the command so far, not yet handed to w
	sent  bool   // part of the command has been handed to w
	depth int    // open parenthesised lists
	err   error
}

// NewEncoder returns an Encoder that writes one command to w. The caller
// flushes w after CRLF, which lets several commands share one write.
func NewEncoder(w *bufio.Writer, opts EncoderOptions) *Encoder {
	return &Encoder{w: w, opts: opts}
}

// Err returns the first error met so far.
func (e *Encoder) Err() error { return e.err }

// fail records err unless an earlier error is already recorded. Once part of
// the command is on the connection, our own refusals leave the server
// mid-command, which the wrapping tells the caller.
func (e *Encoder) fail(err error) *Encoder {
	if e.err == nil {
		if e.sent {
			err = fmt.Errorf("%w: %w", ErrPartialCommand, err)
		}
		e.err = err
	}
	return e
}

func (e *Encoder) refuse(what, value, reason string) *Encoder {
	return e.fail(&ArgumentError{What: what, Value: value, Reason: reason})
}

func (e *Encoder) raw(s string) *Encoder {
	if e.err == nil {
		e.buf = append(e.buf, s...)
	}
	return e
}

// Tag writes a command tag: astring characters other than "+".
func (e *Encoder) Tag(tag string) *Encoder {
	for i := 0; i < len(tag); i++ {
		if tag[i] == '+' || !isAtomChar(tag[i]) {
			return e.refuse("tag", tag, "not made of tag characters")
		}
	}
	if tag == "" {
		return e.refuse("tag", tag, "empty")
	}
	return e.raw(tag)
}

// Atom writes an RFC 3501 atom such as a command name or a fetch item.
func (e *Encoder) Atom(s string) *Encoder {
	if !IsAtom(s) {
		return e.refuse("atom", s, "not an atom")
	}
	return e.raw(s)
}

// Number writes a 32-bit number.
func (e *Encoder) Number(n uint32) *Encoder { return e.Number64(uint64(n)) }

// Number64 writes a 64-bit number such as a mod-sequence.
func (e *Encoder) Number64(n uint64) *Encoder {
	if e.err == nil {
		e.buf = strconv.AppendUint(e.buf, n, 10)
	}
	return e
}

// SP writes the single space that separates arguments.
func (e *Encoder) SP() *Encoder { return e.raw(" ") }

// Special writes one of the syntax characters no other method writes: the
// "]" closing a section (BODY[HEADER.FIELDS (...)]) or the "*" that
// cancels an AUTHENTICATE exchange.
func (e *Encoder) Special(ch byte) *Encoder {
	if ch != ']' && ch != '*' {
		return e.refuse("special character", string(ch), "not ] or *")
	}
	return e.raw(string(ch))
}

// BeginList opens a parenthesised list.
func (e *Encoder) BeginList() *Encoder {
	if e.err != nil {
		return e
	}
	e.depth++
	return e.raw("(")
}

// EndList closes the innermost open list.
func (e *Encoder) EndList() *Encoder {
	if e.err != nil {
		return e
	}
	if e.depth == 0 {
		return e.refuse("list end", ")", "no list is open")
	}
	e.depth--
	return e.raw(")")
}

// List writes a parenthesised list of n items; item(i) writes item i and
// List puts the spaces between them.
func (e *Encoder) List(n int, item func(i int)) *Encoder {
	e.BeginList()
	for i := range n {
		if i > 0 {
			e.SP()
		}
		item(i)
	}
	return e.EndList()
}

// Flag writes a flag: a keyword atom, or "\" and an atom for system flags.
func (e *Encoder) Flag(flag string) *Encoder {
	name := flag
	if len(name) > 0 && name[0] == '\\' {
		name = name[1:]
	}
	if !IsAtom(name) {
		return e.refuse("flag", flag, "not a flag")
	}
	return e.raw(flag)
}

// SeqSet writes a sequence set such as "1:5,7,9:*".
func (e *Encoder) SeqSet(set string) *Encoder {
	if !validSeqSet(set) {
		return e.refuse("sequence set", set, "not a sequence set")
	}
	return e.raw(set)
}

// validSeqSet checks RFC 3501's sequence-set: comma-separated numbers or
// ranges of two numbers, where a number is "*" or a non-zero 32-bit decimal.
func validSeqSet(set string) bool {
	for item := range strings.SplitSeq(set, ",") {
		ends := strings.Split(item, ":")
		if len(ends) > 2 {
			return false
		}
		for _, n := range ends {
			if !validSeqNumber(n) {
				return false
			}
		}
	}
	return true
}

func validSeqNumber(n string) bool {
	if n == "*" {
		return true
	}
	if n == "" || n[0] < '1' || n[0] > '9' {
		return false
	}
	_, err := strconv.ParseUint(n, 10, 32)
	return err == nil
}

// CRLF ends the command and hands it to the writer. It returns the first
// error met while building the command.
func (e *Encoder) CRLF() error {
	if e.err == nil && e.depth != 0 {
		e.refuse("command", "", "unclosed list")
	}
	if e.err != nil {
		return e.err
	}
	e.buf = append(e.buf, "\r\n"...)
	e.flushBuf()
	return e.err
}

// flushBuf hands the held-back part of the command to the writer.
func (e *Encoder) flushBuf() {
	_, err := e.w.Write(e.buf)
	e.sent = true
	e.buf = e.buf[:0]
	if err != nil {
		e.fail(err)
	}
}

// FetchAtt writes a FETCH data item such as UID, FLAGS,
// BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]<0.2048> or BINARY.PEEK[1]: atom
// characters, with a bracketed section that may also hold spaces and
// parentheses.
func (e *Encoder) FetchAtt(att string) *Encoder {
	if !validFetchAtt(att) {
		return e.refuse("fetch attribute", att, "not a FETCH data item")
	}
	return e.raw(att)
}

func validFetchAtt(att string) bool {
	if att == "" {
		return false
	}
	inSection := false
	for i := 0; i < len(att); i++ {
		c := att[i]
		switch {
		case c == '[' && !inSection:
			inSection = true
		case c == ']' && inSection:
			inSection = false
		case inSection && (c == ' ' || c == '(' || c == ')'):
		case !isAtomChar(c) || c == '[':
			return false
		}
	}
	return !inSection
}
