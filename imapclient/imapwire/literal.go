package imapwire

import (
	"io"
	"strings"
)

// ReadLiteral reads a literal header, "{n}" or BINARY's "~{n}", and returns
// a reader of exactly its n content bytes, so the caller can stream a large
// message wherever it likes. Whatever the caller leaves unread is skipped
// by the next Decoder call; the reader is not valid after that call.
func (d *Decoder) ReadLiteral() (io.Reader, int64, error) {
	if _, err := d.acceptByte('~'); err != nil {
		return nil, 0, err
	}
	if err := d.expectByte("literal", '{'); err != nil {
		return nil, 0, err
	}
	size, err := d.readNumber("literal size", 1<<63-1)
	if err != nil {
		return nil, 0, err
	}
	if _, err := d.acceptByte('+'); err != nil {
		return nil, 0, err
	}
	if err := d.expectByte("literal", '}'); err != nil {
		return nil, 0, err
	}
	if _, err := d.acceptByte('\r'); err != nil {
		return nil, 0, err
	}
	if err := d.expectByte("literal", '\n'); err != nil {
		return nil, 0, err
	}
	d.lit = &literalReader{d: d, left: int64(size)}
	return d.lit, int64(size), nil
}

// readLiteralString reads a whole literal into memory, refusing one larger
// than MaxStringSize or than what is left of MaxResponseSize. A refused
// literal is skipped by the next call, so the caller can still
// DiscardLine. The string grows as its bytes arrive: the size announced
// decides nothing about memory until the bytes are there.
func (d *Decoder) readLiteralString() (string, error) {
	r, size, err := d.ReadLiteral()
	if err != nil {
		return "", err
	}
	if size > d.MaxStringSize {
		return "", d.tooLarge("literal", "larger than the string limit")
	}
	if err := d.hold("literal", size); err != nil {
		return "", err
	}
	var b strings.Builder
	if _, err := io.Copy(&b, r); err != nil {
		return "", err
	}
	return b.String(), nil
}

// literalReader reads the content of one literal straight from the
// connection.
type literalReader struct {
	d    *Decoder
	left int64
}

func (l *literalReader) Read(p []byte) (int, error) {
	if l.d.err != nil {
		return 0, l.d.err
	}
	if l.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.d.r.Read(p)
	l.left -= int64(n)
	l.d.consumed += int64(n)
	if err == io.EOF && l.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err != nil && err != io.EOF {
		l.d.err = err
	}
	return n, err
}
