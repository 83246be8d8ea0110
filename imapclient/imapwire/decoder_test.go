package imapwire

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

func decoderFor(s string) *Decoder {
	return NewDecoder(bufio.NewReader(strings.NewReader(s)))
}

func mustProtocolError(t *testing.T, err error) *ProtocolError {
	t.Helper()
	var perr *ProtocolError
	if !errors.As(err, &perr) {
		t.Fatalf("got %v, want a *ProtocolError", err)
	}
	return perr
}

func TestDecodeUntaggedLine(t *testing.T) {
	d := decoderFor("* 23 exists\r\n")
	tag, err := d.ReadAtom()
	if err != nil || tag != "*" {
		t.Fatalf("tag %q, %v", tag, err)
	}
	if err := d.ExpectSP(); err != nil {
		t.Fatal(err)
	}
	n, err := d.ReadNumber()
	if err != nil || n != 23 {
		t.Fatalf("number %d, %v", n, err)
	}
	d.ExpectSP()
	if name, _ := d.ReadAtom(); name != "exists" {
		t.Fatalf("name %q: lower case must be read as sent", name)
	}
	if err := d.ReadCRLF(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ReadAtom(); err != io.EOF {
		t.Fatalf("at the end of input between responses: %v, want io.EOF", err)
	}
}

func TestReadAtom(t *testing.T) {
	for in, want := range map[string]string{
		"FLAGS ":                               "FLAGS",
		`\Seen)`:                               `\Seen`,
		`\*)`:                                  `\*`,
		"1:*,5 ":                               "1:*,5",
		"BODY[HEADER.FIELDS (FROM TO)]<0> {5}": "BODY[HEADER.FIELDS (FROM TO)]<0>",
		"BODY[] NIL":                           "BODY[]",
		"BINARY[1]<0>\r\n":                     "BINARY[1]<0>",
		"UIDNEXT]":                             "UIDNEXT",
		"BODY[unclosed\r\n":                    "BODY[unclosed",
		"caf\xc3\xa9 ":                         "caf\xc3\xa9",
	} {
		got, err := decoderFor(in).ReadAtom()
		if err != nil || got != want {
			t.Errorf("ReadAtom(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{" x", "(x", ")", "\r\n", `"x"`, "{3}", "]"} {
		d := decoderFor(in)
		mustProtocolError(t, func() error { _, err := d.ReadAtom(); return err }())
		if b, _ := d.PeekByte(); b != in[0] {
			t.Errorf("ReadAtom(%q) consumed the offending byte", in)
		}
	}
}

func TestReadNumbers(t *testing.T) {
	if n, err := decoderFor("4294967295 ").ReadNumber(); err != nil || n != 4294967295 {
		t.Errorf("max uint32: %d, %v", n, err)
	}
	if n, err := decoderFor("9223372036854775807)").ReadNumber64(); err != nil || n != 1<<63-1 {
		t.Errorf("max mod-sequence: %d, %v", n, err)
	}
	for _, tc := range []struct {
		in   string
		read func(d *Decoder) error
	}{
		{"4294967296", func(d *Decoder) error { _, err := d.ReadNumber(); return err }},
		{"99999999999999999999", func(d *Decoder) error { _, err := d.ReadNumber(); return err }},
		{"9223372036854775808", func(d *Decoder) error { _, err := d.ReadNumber64(); return err }},
		{"abc", func(d *Decoder) error { _, err := d.ReadNumber(); return err }},
		{"-1", func(d *Decoder) error { _, err := d.ReadNumber(); return err }},
	} {
		mustProtocolError(t, tc.read(decoderFor(tc.in+"\r\n")))
	}
}

func TestReadStrings(t *testing.T) {
	for _, tc := range []struct {
		in   string
		read func(d *Decoder) (string, error)
		want string
	}{
		{`"hello world"`, (*Decoder).ReadQuoted, "hello world"},
		{`"a\"b\\c"`, (*Decoder).ReadQuoted, `a"b\c`},
		{`"odd \x escape"`, (*Decoder).ReadQuoted, `odd \x escape`},
		{`""`, (*Decoder).ReadQuoted, ""},
		{`"caf` + "\xc3\xa9" + `"`, (*Decoder).ReadQuoted, "café"},
		{"{5}\r\nab\r\nc", (*Decoder).ReadString, "ab\r\nc"},
		{"{0}\r\n", (*Decoder).ReadString, ""},
		{"~{3}\r\na\x00b", (*Decoder).ReadString, "a\x00b"},
		{"{3}\nabc", (*Decoder).ReadString, "abc"},
		{`"q"`, (*Decoder).ReadString, "q"},
		{"INBOX ", (*Decoder).ReadAString, "INBOX"},
		{"foo]bar ", (*Decoder).ReadAString, "foo]bar"},
		{`"a b" `, (*Decoder).ReadAString, "a b"},
		{"{3}\r\na b", (*Decoder).ReadAString, "a b"},
	} {
		got, err := tc.read(decoderFor(tc.in))
		if err != nil || got != tc.want {
			t.Errorf("%q: got %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{`"unterminated` + "\r\n", `"a` + "\n", "abc", "(a)", "{x}\r\n"} {
		if _, err := decoderFor(in).ReadString(); err == nil {
			t.Errorf("ReadString(%q) accepted", in)
		}
	}
}

func TestReadNString(t *testing.T) {
	if s, err := decoderFor("NIL ").ReadNString(); err != nil || s != nil {
		t.Errorf("NIL: %v, %v", s, err)
	}
	if s, err := decoderFor("nil)").ReadNString(); err != nil || s != nil {
		t.Errorf("nil: %v, %v", s, err)
	}
	if s, err := decoderFor(`"NIL"`).ReadNString(); err != nil || s == nil || *s != "NIL" {
		t.Errorf(`"NIL": %v, %v`, s, err)
	}
	mustProtocolError(t, func() error { _, err := decoderFor("NONE ").ReadNString(); return err }())
	mustProtocolError(t, func() error { _, _, err := decoderFor("NONE ").ReadNStringReader(); return err }())
	mustProtocolError(t, func() error { _, _, err := decoderFor("x ").ReadNStringReader(); return err }())
}

func TestStringLimit(t *testing.T) {
	d := decoderFor("* 1 FETCH (X {20}\r\n01234567890123456789 Y \"0123456789\")\r\n* 2 EXISTS\r\n")
	d.MaxStringSize = 8
	for range 3 {
		d.ReadAtom()
		d.ReadSP()
	}
	d.acceptByte('(')
	d.ReadAtom()
	d.ExpectSP()
	mustProtocolError(t, func() error { _, err := d.ReadString(); return err }())
	d.ExpectSP() // the refused literal is skipped
	if y, err := d.ReadAtom(); err != nil || y != "Y" {
		t.Fatalf("after a refused literal: %q, %v", y, err)
	}
	d.ExpectSP()
	mustProtocolError(t, func() error { _, err := d.ReadQuoted(); return err }())
	if err := d.DiscardLine(); err != nil {
		t.Fatal(err)
	}
	if tag, _ := d.ReadAtom(); tag != "*" {
		t.Fatalf("next response starts with %q", tag)
	}
}

func TestReadList(t *testing.T) {
	var got []string
	d := decoderFor(`(\Answered  \Seen $Forwarded )` + "\r\n")
	err := d.ReadList(func() error {
		f, err := d.ReadFlag()
		got = append(got, f)
		return err
	})
	if err != nil || strings.Join(got, ",") != `\Answered,\Seen,$Forwarded` {
		t.Fatalf("got %q, %v", got, err)
	}
	if err := d.ReadCRLF(); err != nil {
		t.Fatal(err)
	}

	// Multipart bodies follow each other without a space.
	d = decoderFor(`((a)(b) "mixed")`)
	count := 0
	err = d.ReadList(func() error {
		count++
		_, err := d.ReadValue()
		return err
	})
	if err != nil || count != 3 {
		t.Fatalf("multipart: %d elements, %v", count, err)
	}

	if err := decoderFor("()").ReadList(func() error { t.Fatal("element in ()"); return nil }); err != nil {
		t.Fatal(err)
	}
	d = decoderFor("(a ])")
	perr := mustProtocolError(t, d.ReadList(func() error { return nil }))
	if perr.What != "list" {
		t.Fatalf("an element that reads nothing: %v", perr)
	}
	mustProtocolError(t, decoderFor("a").ReadList(nil))
}

func TestReadTextAndCRLF(t *testing.T) {
	d := decoderFor("hello [world] {5}\r\n\r\nbare\n")
	if text, err := d.ReadText(); err != nil || text != "hello [world] {5}" {
		t.Fatalf("text %q, %v", text, err)
	}
	d.ReadCRLF()
	if text, err := d.ReadText(); err != nil || text != "" {
		t.Fatalf("empty text %q, %v", text, err)
	}
	d.ReadCRLF()
	d.ReadAtom()
	if err := d.ReadCRLF(); err != nil {
		t.Fatalf("bare LF: %v", err)
	}
	mustProtocolError(t, decoderFor("x\r\n").ReadCRLF())
	mustProtocolError(t, decoderFor(" \r\n").ReadCRLF())
}

func TestUnexpectedEOF(t *testing.T) {
	d := decoderFor("* 3 EXI")
	d.ReadAtom()
	d.ReadSP()
	d.ReadNumber()
	d.ReadSP()
	if _, err := d.ReadAtom(); err != io.ErrUnexpectedEOF {
		t.Fatalf("cut mid-line: %v", err)
	}
	if err := d.ReadCRLF(); err != io.ErrUnexpectedEOF || d.Err() != io.ErrUnexpectedEOF {
		t.Fatalf("I/O errors must stick: %v, %v", err, d.Err())
	}
	if _, err := decoderFor(`"abc`).ReadQuoted(); err != io.ErrUnexpectedEOF {
		t.Fatalf("cut quoted: %v", err)
	}
}

func TestProtocolErrorContext(t *testing.T) {
	d := decoderFor("* 12 FETCH (UID x)\r\n")
	for range 3 {
		d.ReadAtom()
		d.ReadSP()
	}
	d.acceptByte('(')
	d.ReadAtom()
	d.ReadSP()
	perr := mustProtocolError(t, func() error { _, err := d.ReadNumber(); return err }())
	if perr.Seen != "* 12 FETCH (UID " || perr.Ahead != "x)\r\n" || perr.What != "number" {
		t.Fatalf("context %+v", perr)
	}
	if !strings.Contains(perr.Error(), `"x)\r\n"`) {
		t.Fatalf("message %q", perr.Error())
	}
}

func TestPeek(t *testing.T) {
	d := decoderFor("+ go ahead\r\n")
	if b, err := d.PeekByte(); err != nil || b != '+' {
		t.Fatalf("PeekByte %q, %v", b, err)
	}
	if p, err := d.Peek(4); err != nil || string(p) != "+ go" {
		t.Fatalf("Peek %q, %v", p, err)
	}
	if text, _ := d.ReadText(); text != "+ go ahead" {
		t.Fatalf("peeking consumed input: %q", text)
	}
}
