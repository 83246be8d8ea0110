package imapwire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestSynchronizingLiteral(t *testing.T) {
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	var atContinue string
	e := NewEncoder(w, EncoderOptions{Continue: func() error {
		atContinue = out.String()
		return nil
	}})
	e.Tag("A1").SP().Atom("APPEND").SP().Mailbox("INBOX").SP().Literal(7, strings.NewReader("Hi\r\n\r\nx"))
	if err := e.CRLF(); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	if want := "A1 APPEND INBOX {7}\r\n"; atContinue != want {
		t.Errorf("flushed before continuation: %q, want %q", atContinue, want)
	}
	if want := "A1 APPEND INBOX {7}\r\nHi\r\n\r\nx\r\n"; out.String() != want {
		t.Errorf("sent %q, want %q", out.String(), want)
	}
}

func TestLiteralRefusedByServer(t *testing.T) {
	refusal := errors.New("NO [TRYCREATE] no such mailbox")
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	e := NewEncoder(w, EncoderOptions{Continue: func() error { return refusal }})
	e.Tag("A1").SP().Atom("APPEND").SP().Mailbox("x").SP().Literal(3, strings.NewReader("abc"))
	err := e.CRLF()
	w.Flush()
	if err != refusal {
		t.Fatalf("got %v, want the continuation's error unwrapped", err)
	}
	if out.String() != "A1 APPEND x {3}\r\n" {
		t.Errorf("sent %q after the refusal", out.String())
	}
}

func TestLiteralForms(t *testing.T) {
	big := strings.Repeat("x", 4097)
	for _, tc := range []struct {
		name   string
		opts   EncoderOptions
		build  func(e *Encoder)
		header string
	}{
		{"LITERAL+", EncoderOptions{LiteralPlus: true}, func(e *Encoder) { e.Literal(int64(len(big)), strings.NewReader(big)) }, "{4097+}"},
		{"LITERAL- small", EncoderOptions{LiteralMinus: true}, func(e *Encoder) { e.Literal(4096, strings.NewReader(big[:4096])) }, "{4096+}"},
		{"LITERAL- large", EncoderOptions{LiteralMinus: true, Continue: func() error { return nil }}, func(e *Encoder) { e.Literal(int64(len(big)), strings.NewReader(big)) }, "{4097}"},
		{"literal8", EncoderOptions{LiteralPlus: true}, func(e *Encoder) { e.Literal8(3, strings.NewReader("a\x00b")) }, "~{3+}"},
		{"empty", EncoderOptions{LiteralPlus: true}, func(e *Encoder) { e.Literal(0, strings.NewReader("")) }, "{0+}"},
	} {
		got, err := encode(tc.opts, tc.build)
		if err != nil || !strings.HasPrefix(got, tc.header+"\r\n") {
			t.Errorf("%s: got %.20q, %v; want header %s", tc.name, got, err, tc.header)
		}
	}
}

func TestLiteralRefusals(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    EncoderOptions
		build   func(e *Encoder)
		partial bool
		cause   error
	}{
		{"no continuation handler", EncoderOptions{}, func(e *Encoder) { e.Atom("X").SP().Literal(1, strings.NewReader("a")) }, false, nil},
		{"negative size", EncoderOptions{LiteralPlus: true}, func(e *Encoder) { e.Literal(-1, strings.NewReader("")) }, false, nil},
		{"NUL in literal", EncoderOptions{LiteralPlus: true}, func(e *Encoder) { e.Literal(3, strings.NewReader("a\x00b")) }, true, nil},
		{"short content", EncoderOptions{LiteralPlus: true}, func(e *Encoder) { e.Literal(5, strings.NewReader("abc")) }, true, io.ErrUnexpectedEOF},
		{"refusal after a literal", EncoderOptions{LiteralPlus: true}, func(e *Encoder) {
			e.Literal(1, strings.NewReader("a")).SP().Atom("bad atom")
		}, true, nil},
	} {
		got, err := encode(tc.opts, tc.build)
		if err == nil {
			t.Errorf("%s: accepted, sent %q", tc.name, got)
			continue
		}
		if errors.Is(err, ErrPartialCommand) != tc.partial {
			t.Errorf("%s: %v; partial = %v, want %v", tc.name, err, !tc.partial, tc.partial)
		}
		if !tc.partial && got != "" {
			t.Errorf("%s: wrote %q", tc.name, got)
		}
		if tc.cause != nil && !errors.Is(err, tc.cause) {
			t.Errorf("%s: %v does not wrap %v", tc.name, err, tc.cause)
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestEncoderWriteError(t *testing.T) {
	w := bufio.NewWriterSize(failingWriter{}, 16)
	e := NewEncoder(w, EncoderOptions{LiteralPlus: true})
	e.Atom("A1").SP().Literal(64, strings.NewReader(strings.Repeat("x", 64)))
	if err := e.CRLF(); !errors.Is(err, ErrPartialCommand) {
		t.Fatalf("got %v, want a partial-command error", err)
	}
}
