package cache

import (
	"bytes"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

func TestCRLF(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"a\r\nb\r\n", "a\r\nb\r\n"},
		{"a\nb\n", "a\r\nb\r\n"},
		{"\n\n", "\r\n\r\n"},
		{"a\r\n\nb\rc\n", "a\r\n\r\nb\rc\r\n"},
		{"no newline", "no newline"},
		{strings.Repeat("x\n", 40000), strings.Repeat("x\r\n", 40000)},
		{strings.Repeat("y\r\n", 40000) + "z\n", strings.Repeat("y\r\n", 40000) + "z\r\n"},
		// A CRLF split across the readers' chunks.
		{strings.Repeat("y", 32<<10-1) + "\r\n", strings.Repeat("y", 32<<10-1) + "\r\n"},
		{strings.Repeat("y", 64<<10-1) + "\r\n\n", strings.Repeat("y", 64<<10-1) + "\r\n\r\n"},
	} {
		// One byte at a time, and into a one-byte buffer, as well as whole.
		for _, src := range []io.Reader{strings.NewReader(tc.in), iotest.OneByteReader(strings.NewReader(tc.in))} {
			got, err := io.ReadAll(newCRLFReader(src))
			if err != nil || string(got) != tc.want {
				t.Errorf("%.20q: got %.20q (%d bytes), %v; want %.20q (%d bytes)", tc.in, got, len(got), err, tc.want, len(tc.want))
			}
		}
		var got bytes.Buffer
		r := newCRLFReader(strings.NewReader(tc.in))
		p := make([]byte, 1)
		for {
			n, err := r.Read(p)
			got.Write(p[:n])
			if err != nil {
				break
			}
		}
		if got.String() != tc.want {
			t.Errorf("%.20q read a byte at a time: %.20q", tc.in, got.String())
		}
		path := filepath.Join(t.TempDir(), "m")
		os.WriteFile(path, []byte(tc.in), 0o600)
		if form, err := scanSpool(path); err != nil || form.size != int64(len(tc.want)) || form.binary || form.digest != sha256.Sum256([]byte(tc.want)) {
			t.Errorf("%.20q: %+v, %v; want %d bytes as text", tc.in, form, err, len(tc.want))
		}
	}
}

// A message with NUL bytes goes as binary, with CRLF line ends too.
func TestWireFormBinary(t *testing.T) {
	in, want := "Subject: x\n\na\x00b\n", "Subject: x\r\n\r\na\x00b\r\n"
	path := filepath.Join(t.TempDir(), "m")
	os.WriteFile(path, []byte(in), 0o600)
	form, err := scanSpool(path)
	if err != nil || form.size != int64(len(want)) || !form.binary || form.digest != sha256.Sum256([]byte(want)) {
		t.Fatalf("%+v, %v", form, err)
	}
	if got, _ := io.ReadAll(form.reader(strings.NewReader(in))); string(got) != want {
		t.Errorf("sent %q", got)
	}
}
