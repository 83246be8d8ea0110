package imapwire

import (
	"io"
	"strings"
)

// ReadQuoted reads a quoted string. Escapes other than \" and \\ are not in
// the grammar; they are kept as sent rather than refused.
func (d *Decoder) ReadQuoted() (string, error) {
	b, err := d.ReadQuotedBytes()
	return string(b), err
}

// ReadQuotedBytes is ReadQuoted into a buffer of the Decoder's, valid
// until the next read.
func (d *Decoder) ReadQuotedBytes() ([]byte, error) {
	if err := d.expectByte("quoted string", '"'); err != nil {
		return nil, err
	}
	b := d.scratch[:0]
	defer func() {
		if cap(b) <= maxScratch {
			d.scratch = b[:0]
		}
	}()
	for {
		c, err := d.PeekByte()
		if err != nil {
			return nil, err
		}
		if c == '\r' || c == '\n' {
			return nil, d.protocolError("quoted string", "unterminated")
		}
		if int64(len(b)) >= d.MaxStringSize {
			return nil, d.tooLarge("quoted string", "too long")
		}
		if err := d.hold("quoted string", 1); err != nil {
			return nil, err
		}
		d.readByte()
		switch c {
		case '"':
			return b, nil
		case '\\':
			escaped, err := d.PeekByte()
			if err != nil {
				return nil, err
			}
			if escaped == '"' || escaped == '\\' {
				d.readByte()
				c = escaped
			}
		}
		b = append(b, c)
	}
}

// ReadString reads a string: quoted, or a literal of at most MaxStringSize.
func (d *Decoder) ReadString() (string, error) {
	c, err := d.PeekByte()
	switch {
	case err != nil:
		return "", err
	case c == '"':
		return d.ReadQuoted()
	case c == '{' || c == '~':
		return d.readLiteralString()
	}
	return "", d.protocolError("string", "expected a quoted string or a literal")
}

// ReadAString reads an astring: an atom (where "]" is allowed) or a string.
func (d *Decoder) ReadAString() (string, error) {
	c, err := d.PeekByte()
	switch {
	case err != nil:
		return "", err
	case c == '"' || c == '{':
		return d.ReadString()
	}
	return d.readWhile("astring", func(c byte) bool { return c == ']' || !endsAtom(c) })
}

// ReadNString reads an nstring: nil for NIL, else the string.
func (d *Decoder) ReadNString() (*string, error) {
	isNIL, err := d.readNIL()
	if isNIL || err != nil {
		return nil, err
	}
	s, err := d.ReadString()
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// ReadNStringReader reads an nstring as a stream, the way to take a message
// body that may come quoted, as a literal of any size, or as NIL (a nil
// reader).
func (d *Decoder) ReadNStringReader() (io.Reader, int64, error) {
	c, err := d.PeekByte()
	switch {
	case err != nil:
		return nil, 0, err
	case c == '"':
		s, err := d.ReadQuoted()
		return strings.NewReader(s), int64(len(s)), err
	case c == '{' || c == '~':
		return d.ReadLiteral()
	}
	isNIL, err := d.readNIL()
	if err == nil && !isNIL {
		err = d.protocolError("nstring", "expected NIL or a string")
	}
	return nil, 0, err
}

// readNIL consumes NIL if it comes next. An atom other than NIL that starts
// with N is an error, as it has been consumed.
func (d *Decoder) readNIL() (bool, error) {
	c, err := d.PeekByte()
	if err != nil || (c != 'N' && c != 'n') {
		return false, err
	}
	atom, err := d.ReadAtom()
	if err != nil {
		return false, err
	}
	if !strings.EqualFold(atom, "NIL") {
		return false, d.protocolError("nstring", "expected NIL or a string")
	}
	return true, nil
}
