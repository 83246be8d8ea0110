package imapwire

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzDecoder reads arbitrary input as a stream of responses, the way a
// client skips what it cannot parse. It must not panic or loop, and every
// error must be one a caller can classify: malformed input or end of input.
func FuzzDecoder(f *testing.F) {
	for _, seed := range []string{
		"* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n",
		"* 1 FETCH (UID 7 FLAGS (\\Seen) BODY[] {5}\r\nhello)\r\n",
		"* LIST (\\HasNoChildren) \"/\" \"Entw&APw-rfe\"\r\n",
		"A1 OK [APPENDUID 1 2] done\r\n* 3 EXPUNGE\r\n",
		"* BYE\r\n+ \r\n* X ~{2}\r\n\x00\x00 {1}\r\n)\r\n",
		"* 1 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" NIL NIL NIL \"7bit\" 1 1)(\"text\" \"html\" NIL NIL NIL \"7bit\" 1 1) \"alternative\"))\r\n",
		"* OK [REFERRAL imap://[::1]/] \"{5}\r\n",
		"((((((((((((((((((((",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, input string) {
		d := NewDecoder(bufio.NewReaderSize(strings.NewReader(input), 16))
		d.MaxStringSize = 256
		for range len(input) + 1 {
			err := readResponse(d)
			var perr *ProtocolError
			switch {
			case err == nil:
			case errors.As(err, &perr):
				err = d.DiscardLine()
			case err != io.EOF && err != io.ErrUnexpectedEOF:
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return
			}
		}
		t.Fatal("the decoder stopped making progress")
	})
}

// readResponse reads one response line generically: a tag, then resp-text
// after a status word, or values up to the end of the line.
func readResponse(d *Decoder) error {
	tag, err := d.ReadAtom()
	if err != nil {
		return err
	}
	if tag == "+" {
		if _, err := d.ReadText(); err != nil {
			return err
		}
		return d.ReadCRLF()
	}
	for {
		c, err := d.PeekByte()
		if err != nil {
			return err
		}
		if c == '\r' || c == '\n' {
			return d.ReadCRLF()
		}
		if err := d.ExpectSP(); err != nil {
			return err
		}
		v, err := d.ReadValue()
		if err != nil {
			return err
		}
		if v.Kind == KindAtom && strings.EqualFold(v.Text, "OK") {
			if _, _, err := d.ReadRespText(); err != nil {
				return err
			}
		}
	}
}
