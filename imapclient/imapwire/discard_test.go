package imapwire

import (
	"bufio"
	"io"
	"strings"
	"testing"
)

func TestDiscardLine(t *testing.T) {
	for _, tc := range []struct{ name, line string }{
		{"plain", "* XUNKNOWN a b (c d)\r\n"},
		{"literals", "* 1 FETCH (BODY[] {11}\r\nhello\r\nxyz BODY[1] ~{3}\r\n\x00\r\n UID 4)\r\n"},
		{"literal right after a literal", "* X {2}\r\nab{3}\r\nxyz\r\n"},
		{"literal plus", "* X {3+}\r\nabc\r\n"},
		{"empty literal", "* X {0}\r\n\r\n"},
		{"quoted ending like a literal", "* X \"{3}\"\r\n"},
		{"bare LF", "* X\n"},
		{"long line", "* X " + strings.Repeat("y", 5000) + " {4}\r\nabcd" + strings.Repeat("z", 5000) + "\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(bufio.NewReaderSize(strings.NewReader(tc.line+"* 2 EXISTS\r\n"), 16))
			if err := d.DiscardLine(); err != nil {
				t.Fatal(err)
			}
			if next, err := d.ReadText(); err != nil || next != "* 2 EXISTS" {
				t.Fatalf("next line %q, %v", next, err)
			}
		})
	}
}

func TestDiscardLineMidLine(t *testing.T) {
	d := decoderFor("* 3 XFOO {5}\r\nab\r\nc more\r\nA1 OK done\r\n")
	d.ReadAtom()
	d.ReadSP()
	d.ReadNumber()
	if err := d.DiscardLine(); err != nil {
		t.Fatal(err)
	}
	if tag, _ := d.ReadAtom(); tag != "A1" {
		t.Fatalf("next tag %q", tag)
	}
}

func TestDiscardLineCutShort(t *testing.T) {
	if err := decoderFor("* X {10}\r\nabc").DiscardLine(); err != io.ErrUnexpectedEOF {
		t.Fatalf("literal cut short: %v", err)
	}
	if err := decoderFor("* X").DiscardLine(); err != io.ErrUnexpectedEOF {
		t.Fatalf("line cut short: %v", err)
	}
	if err := decoderFor("").DiscardLine(); err != io.EOF {
		t.Fatalf("no line at all: %v", err)
	}
}

func TestLiteralAtEnd(t *testing.T) {
	for line, want := range map[string]int64{
		"x {5}\r\n": 5, "{0}\n": 0, "~{12}\r\n": 12, "{7+}\r\n": 7, "{123456789012345678}\r\n": 123456789012345678,
		"x}\r\n": -1, "{}\r\n": -1, "5}\r\n": -1, "{5} \r\n": -1, "{1234567890123456789}\r\n": -1, "\n": -1,
	} {
		size, ok := literalAtEnd([]byte(line))
		if !ok {
			size = -1
		}
		if size != want {
			t.Errorf("literalAtEnd(%q) = %d, want %d", line, size, want)
		}
	}
}
