package imapwire

import (
	"strings"
	"unicode/utf8"

	"imapfs/imapclient/internal/utf7"
)

// Quoted writes s as a quoted string, escaping '"' and '\'. Text that
// cannot be quoted (line breaks, NUL, controls, 8-bit without UTF8=ACCEPT)
// is refused; String picks a literal for it instead.
func (e *Encoder) Quoted(s string) *Encoder {
	if !isQuotable(s, e.opts.UTF8) {
		return e.refuse("quoted string", "", "holds characters a quoted string cannot carry")
	}
	if e.err == nil {
		e.buf = appendQuoted(e.buf, s)
	}
	return e
}

// String writes s as a quoted string when it can be quoted and as a literal
// otherwise, so any text without NUL can be sent, line breaks included.
func (e *Encoder) String(s string) *Encoder {
	if strings.IndexByte(s, 0) >= 0 {
		return e.refuse("string", "", "holds NUL")
	}
	if isQuotable(s, e.opts.UTF8) {
		return e.Quoted(s)
	}
	return e.Literal(int64(len(s)), strings.NewReader(s))
}

// AString writes s as an atom when it is one (and not the word NIL, which a
// server could read as a null), and as String otherwise.
func (e *Encoder) AString(s string) *Encoder {
	if IsAtom(s) && !strings.EqualFold(s, "NIL") {
		return e.raw(s)
	}
	return e.String(s)
}

// NString writes NIL for a nil s and String(*s) otherwise.
func (e *Encoder) NString(s *string) *Encoder {
	if s == nil {
		return e.raw("NIL")
	}
	return e.String(*s)
}

// Mailbox writes a mailbox name or LIST pattern given in UTF-8. "INBOX" is
// case-insensitive (RFC 3501 section 5.1) and always sent in capitals; other
// names are encoded in modified UTF-7 unless UTF8=ACCEPT is enabled. Names
// with CR, LF or NUL name no real mailbox and are refused.
func (e *Encoder) Mailbox(name string) *Encoder {
	if hasLineBreakOrNUL(name) {
		return e.refuse("mailbox", name, "holds CR, LF or NUL")
	}
	if !utf8.ValidString(name) {
		return e.refuse("mailbox", name, "not valid UTF-8")
	}
	if strings.EqualFold(name, "INBOX") {
		return e.raw("INBOX")
	}
	if !e.opts.UTF8 {
		name, _ = utf7.Encode(name) // cannot fail: name is valid UTF-8
	}
	return e.AString(name)
}
