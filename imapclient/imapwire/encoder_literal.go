package imapwire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// literalMinusMax is the largest literal LITERAL- lets us send without
// waiting for a continuation (RFC 7888 section 5).
const literalMinusMax = 4096

// Literal writes a literal of exactly size bytes read from r. The content
// may hold any byte but NUL. With LITERAL+ (or LITERAL- and a small size)
// the literal goes without waiting; otherwise the command so far is flushed
// and EncoderOptions.Continue waits for the server's go-ahead.
//
// The content is streamed, not buffered, so a NUL or a short read is only
// noticed once part of it is on the connection: such errors wrap
// ErrPartialCommand.
func (e *Encoder) Literal(size int64, r io.Reader) *Encoder {
	return e.literal("", size, &nulRefuser{r: r})
}

// Literal8 writes a BINARY literal8 (RFC 3516, "~{n}"), whose content may
// also hold NUL. Use it only when the server has BINARY.
func (e *Encoder) Literal8(size int64, r io.Reader) *Encoder {
	return e.literal("~", size, r)
}

func (e *Encoder) literal(prefix string, size int64, r io.Reader) *Encoder {
	if e.err != nil {
		return e
	}
	if size < 0 {
		return e.refuse("literal", "", "negative size")
	}
	wait := !e.opts.LiteralPlus && !(e.opts.LiteralMinus && size <= literalMinusMax)
	if wait && e.opts.Continue == nil {
		return e.refuse("literal", "", "the server needs a synchronizing literal and no continuation handler is set")
	}
	e.buf = append(e.buf, prefix+"{"...)
	e.buf = strconv.AppendInt(e.buf, size, 10)
	if !wait {
		e.buf = append(e.buf, '+')
	}
	e.buf = append(e.buf, "}\r\n"...)
	e.flushBuf()
	if e.err != nil {
		return e
	}
	if wait {
		if err := e.w.Flush(); err != nil {
			return e.fail(err)
		}
		// A refusal ends the command on the server side: the connection stays
		// usable, so the error is recorded without ErrPartialCommand.
		if err := e.opts.Continue(); err != nil {
			e.err = err
			return e
		}
	}
	n, err := io.CopyN(e.w, r, size)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		var refused *ArgumentError
		if !errors.As(err, &refused) {
			err = fmt.Errorf("literal content, after %d of %d bytes: %w", n, size, err)
		}
		return e.fail(err)
	}
	return e
}

// nulRefuser passes content through, failing at the first NUL: RFC 3501
// literals carry CHAR8, which excludes it.
type nulRefuser struct{ r io.Reader }

func (n *nulRefuser) Read(p []byte) (int, error) {
	k, err := n.r.Read(p)
	if i := bytes.IndexByte(p[:k], 0); i >= 0 {
		return i, &ArgumentError{What: "literal", Reason: "holds NUL (only literal8 may)"}
	}
	return k, err
}
