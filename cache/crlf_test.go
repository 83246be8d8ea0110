package cache

import (
	"bytes"
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
		if size, err := crlfSize(path); err != nil || size != int64(len(tc.want)) {
			t.Errorf("%.20q: crlfSize %d, %v; want %d", tc.in, size, err, len(tc.want))
		}
	}
}
