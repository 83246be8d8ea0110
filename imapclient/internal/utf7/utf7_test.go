package utf7

import (
	"errors"
	"testing"
	"unicode/utf8"
)

var pairs = []struct{ utf8, utf7 string }{
	{"", ""},
	{"INBOX", "INBOX"},
	{"&", "&-"},
	{"Tom & Jerry", "Tom &- Jerry"},
	{"~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
	{"Entwürfe", "Entw&APw-rfe"},
	{"Gelöschte Elemente", "Gel&APY-schte Elemente"},
	{"€uro", "&IKw-uro"},
	{"😀", "&2D3eAA-"},             // non-BMP: surrogate pair
	{"a😀€b", "a&2D3eACCs-b"},      // one run mixing a pair and a BMP character
	{"tab\there", "tab&AAk-here"}, // controls are encoded too
	{"\x00\r\n", "&AAAADQAK-"},    // so are NUL and line breaks
	{"é&é", "&AOk-&-&AOk-"},       // "&-" between two runs
	{"~", "~"},
}

func TestEncodeDecode(t *testing.T) {
	for _, p := range pairs {
		got, err := Encode(p.utf8)
		if err != nil || got != p.utf7 {
			t.Errorf("Encode(%q) = %q, %v; want %q", p.utf8, got, err, p.utf7)
		}
		back, err := Decode(p.utf7)
		if err != nil || back != p.utf8 {
			t.Errorf("Decode(%q) = %q, %v; want %q", p.utf7, back, err, p.utf8)
		}
	}
}

func TestEncodeInvalidUTF8(t *testing.T) {
	if _, err := Encode("bad\xffname"); !errors.Is(err, ErrInvalidUTF8) {
		t.Fatalf("got %v, want ErrInvalidUTF8", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"&", ErrUnterminated},
		{"abc&AOk", ErrUnterminated},
		{"&AOk-&AOk-", ErrInvalidUTF7},  // two adjacent runs must be one
		{"&A!k-", ErrInvalidUTF7},       // not base64
		{"&AOk=-", ErrInvalidUTF7},      // padding
		{"&AOl-", ErrInvalidUTF7},       // non-zero stray bits
		{"&AA-", ErrInvalidUTF7},        // half a UTF-16 unit
		{"&AGE-", ErrInvalidUTF7},       // "a" must be written directly
		{"&ACY-", ErrInvalidUTF7},       // "&" must be written "&-"
		{"&2D0-", ErrInvalidUTF7},       // lone high surrogate
		{"&3gA-", ErrInvalidUTF7},       // lone low surrogate
		{"&2D0AQQ-", ErrInvalidUTF7},    // high surrogate followed by a non-surrogate
		{"&AOk/-", ErrInvalidUTF7},      // "/" is "," in modified base64
		{"caf\xc3\xa9", ErrInvalidUTF7}, // raw 8-bit
		{"a\tb", ErrInvalidUTF7},        // raw control
	} {
		if got, err := Decode(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("Decode(%q) = %q, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// FuzzUTF7 checks both directions of the round trip: every UTF-8 name
// survives Encode then Decode, and every name Decode accepts is the
// canonical spelling Encode produces.
func FuzzUTF7(f *testing.F) {
	for _, p := range pairs {
		f.Add(p.utf8)
		f.Add(p.utf7)
	}
	f.Add("&AOk-&AOk-")
	f.Add("&2D0-")
	f.Fuzz(func(t *testing.T, s string) {
		if utf8.ValidString(s) {
			enc, err := Encode(s)
			if err != nil {
				t.Fatalf("Encode(%q): %v", s, err)
			}
			if dec, err := Decode(enc); err != nil || dec != s {
				t.Fatalf("Decode(Encode(%q)) = %q, %v", s, dec, err)
			}
		}
		if dec, err := Decode(s); err == nil {
			if enc, err := Encode(dec); err != nil || enc != s {
				t.Fatalf("Encode(Decode(%q)) = %q, %v", s, enc, err)
			}
		}
	})
}
