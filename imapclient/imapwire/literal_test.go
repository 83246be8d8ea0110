package imapwire

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"
)

// TestStreamLargeLiteral reads a 50 MB body through a small string limit:
// the literal must stream, not be buffered by the Decoder.
func TestStreamLargeLiteral(t *testing.T) {
	body := strings.Repeat("0123456789abcdef", 50<<20/16)
	d := decoderFor("* 1 FETCH (BODY[] {" + strconv.Itoa(len(body)) + "}\r\n" + body + " UID 7)\r\n")
	d.MaxStringSize = 1024
	for range 3 {
		d.ReadAtom()
		d.ReadSP()
	}
	d.acceptByte('(')
	d.ReadAtom()
	d.ExpectSP()
	r, size, err := d.ReadNStringReader()
	if err != nil || size != int64(len(body)) {
		t.Fatalf("size %d, %v", size, err)
	}
	var got bytes.Buffer
	if _, err := io.Copy(&got, r); err != nil || got.String() != body {
		t.Fatalf("streamed %d bytes, %v", got.Len(), err)
	}
	d.ExpectSP()
	if name, _ := d.ReadAtom(); name != "UID" {
		t.Fatalf("after the literal: %q", name)
	}
}

func TestUnreadLiteralIsSkipped(t *testing.T) {
	d := decoderFor("{10}\r\n0123456789 NEXT\r\n")
	r, _, err := d.ReadLiteral()
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 3)
	io.ReadFull(r, head)
	d.ExpectSP()
	if next, err := d.ReadAtom(); err != nil || next != "NEXT" || string(head) != "012" {
		t.Fatalf("got %q after reading %q, %v", next, head, err)
	}
	if n, err := r.Read(head); n != 0 || err != io.EOF {
		t.Fatalf("a skipped literal still reads: %d, %v", n, err)
	}
}

func TestLiteralCutShort(t *testing.T) {
	d := decoderFor("~{10}\r\n012")
	r, _, err := d.ReadLiteral()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(r); err != io.ErrUnexpectedEOF {
		t.Fatalf("got %v", err)
	}
	if d.Err() != io.ErrUnexpectedEOF {
		t.Fatalf("the decoder did not stop: %v", d.Err())
	}
}

func TestReadNStringReaderForms(t *testing.T) {
	for in, want := range map[string]string{`"quoted"`: "quoted", "{3}\r\nlit": "lit", "~{2}\r\n\x00\x01": "\x00\x01"} {
		r, size, err := decoderFor(in).ReadNStringReader()
		if err != nil || size != int64(len(want)) {
			t.Fatalf("%q: size %d, %v", in, size, err)
		}
		if got, _ := io.ReadAll(r); string(got) != want {
			t.Errorf("%q: read %q", in, got)
		}
	}
	if r, size, err := decoderFor("NIL)").ReadNStringReader(); r != nil || size != 0 || err != nil {
		t.Errorf("NIL: %v, %d, %v", r, size, err)
	}
}

func TestBadLiteralHeaders(t *testing.T) {
	for _, in := range []string{"{}\r\n", "{1a}\r\n", "{5}x", "{5}\rx", "{99999999999999999999}\r\n", "~x"} {
		if _, _, err := decoderFor(in).ReadLiteral(); err == nil {
			t.Errorf("ReadLiteral(%q) accepted", in)
		}
	}
}
