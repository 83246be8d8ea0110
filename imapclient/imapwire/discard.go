package imapwire

import (
	"bufio"
	"io"
)

// DiscardLine skips the rest of the current response line, with any
// literals in it, holding no more than a few bytes: this is how responses
// we do not parse are ignored. As in every IMAP client, a line that ends in
// "{n}" announces n bytes of literal after which the line goes on.
func (d *Decoder) DiscardLine() error {
	if err := d.settle(); err != nil {
		return err
	}
	var tail []byte // the end of the line so far, enough to hold "~{n}\r\n"
	for {
		chunk, err := d.r.ReadSlice('\n')
		d.consumed += int64(len(chunk))
		if len(chunk) > 0 {
			d.lineStart = false
		}
		tail = append(tail, chunk[max(0, len(chunk)-maxLiteralHeader):]...)
		if len(tail) > maxLiteralHeader {
			tail = append(tail[:0], tail[len(tail)-maxLiteralHeader:]...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return d.fail(err)
		}
		size, ok := literalAtEnd(tail)
		if !ok {
			d.endLine()
			return nil
		}
		if _, err := io.CopyN(io.Discard, d.r, size); err != nil {
			return d.fail(io.ErrUnexpectedEOF)
		}
		d.consumed += size
		tail = tail[:0]
	}
}

// maxLiteralHeader is the longest "{n+}\r\n" with n up to 18 digits.
const maxLiteralHeader = 24

// literalAtEnd reports whether line ends in a literal header and its size.
func literalAtEnd(line []byte) (int64, bool) {
	line = line[:len(line)-1] // the '\n'
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if n := len(line); n == 0 || line[n-1] != '}' {
		return 0, false
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '+' {
		line = line[:n-1]
	}
	var size int64
	digits := 0
	for i := len(line) - 1; i >= 0 && line[i] >= '0' && line[i] <= '9'; i-- {
		digits++
	}
	if digits == 0 || digits > 18 || len(line) == digits || line[len(line)-digits-1] != '{' {
		return 0, false
	}
	for _, c := range line[len(line)-digits:] {
		size = size*10 + int64(c-'0')
	}
	return size, true
}
