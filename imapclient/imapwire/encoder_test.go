package imapwire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// encode builds one command with a fresh Encoder and returns what reached
// the connection.
func encode(opts EncoderOptions, build func(e *Encoder)) (string, error) {
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	e := NewEncoder(w, opts)
	build(e)
	err := e.CRLF()
	w.Flush()
	return out.String(), err
}

func TestEncoderCommand(t *testing.T) {
	got, err := encode(EncoderOptions{}, func(e *Encoder) {
		e.Tag("A1").SP().Atom("UID").SP().Atom("FETCH").SP().SeqSet("1:5,7,9:*").SP()
		items := []func(){
			func() { e.Atom("UID") },
			func() { e.Atom("FLAGS") },
			func() {
				e.Atom("BODY.PEEK[HEADER.FIELDS").SP().
					List(2, func(i int) { e.Atom([]string{"FROM", "TO"}[i]) }).
					Special(']').Atom("<0.100>")
			},
		}
		e.List(len(items), func(i int) { items[i]() })
	})
	want := "A1 UID FETCH 1:5,7,9:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>)\r\n"
	if err != nil || got != want {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
}

func TestEncoderNumbersFlagsAndNIL(t *testing.T) {
	got, err := encode(EncoderOptions{}, func(e *Encoder) {
		e.Tag("a.2").SP().Number(4294967295).SP().Number64(1<<63 - 1).SP().
			BeginList().Flag(`\Seen`).SP().Flag("$Forwarded").EndList().SP().NString(nil)
	})
	want := "a.2 4294967295 9223372036854775807 (\\Seen $Forwarded) NIL\r\n"
	if err != nil || got != want {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
}

func TestEncoderStrings(t *testing.T) {
	plus := EncoderOptions{LiteralPlus: true}
	utf8 := EncoderOptions{LiteralPlus: true, UTF8: true}
	for _, tc := range []struct {
		name  string
		opts  EncoderOptions
		build func(e *Encoder, s string) *Encoder
		in    string
		want  string
	}{
		{"quoted", plus, (*Encoder).String, "hello world", `"hello world"`},
		{"escapes", plus, (*Encoder).String, `a"b\c`, `"a\"b\\c"`},
		{"empty", plus, (*Encoder).String, "", `""`},
		{"braces stay quoted", plus, (*Encoder).String, "{5}", `"{5}"`},
		{"line break goes literal", plus, (*Encoder).String, "a\r\nb", "{4+}\r\na\r\nb"},
		{"tab goes literal", plus, (*Encoder).String, "a\tb", "{3+}\r\na\tb"},
		{"8-bit goes literal", plus, (*Encoder).String, "café", "{5+}\r\ncafé"},
		{"8-bit quoted under UTF8=ACCEPT", utf8, (*Encoder).String, "café", `"café"`},
		{"invalid UTF-8 goes literal", utf8, (*Encoder).String, "caf\xe9", "{4+}\r\ncaf\xe9"},
		{"astring atom", plus, (*Encoder).AString, "user@example.org", "user@example.org"},
		{"astring NIL is quoted", plus, (*Encoder).AString, "nil", `"nil"`},
		{"astring empty", plus, (*Encoder).AString, "", `""`},
		{"astring bracket", plus, (*Encoder).AString, "a]b", `"a]b"`},
		{"nstring", plus, func(e *Encoder, s string) *Encoder { return e.NString(&s) }, "NIL", `"NIL"`},
		{"inbox", plus, (*Encoder).Mailbox, "inbox", "INBOX"},
		{"InBoX", plus, (*Encoder).Mailbox, "InBoX", "INBOX"},
		{"inbox child keeps case", plus, (*Encoder).Mailbox, "inbox/Sub", "inbox/Sub"},
		{"utf-7", plus, (*Encoder).Mailbox, "Entwürfe", "Entw&APw-rfe"},
		{"utf-7 ampersand", plus, (*Encoder).Mailbox, "A & B", `"A &- B"`},
		{"utf8 mailbox", utf8, (*Encoder).Mailbox, "Entwürfe", `"Entwürfe"`},
		{"mailbox with space", plus, (*Encoder).Mailbox, "My Folder", `"My Folder"`},
		{"mailbox with quote", plus, (*Encoder).Mailbox, `a"b\c`, `"a\"b\\c"`},
		{"mailbox with braces", plus, (*Encoder).Mailbox, "x {5}", `"x {5}"`},
		{"list pattern", plus, (*Encoder).Mailbox, "Archive/%", `"Archive/%"`},
		{"mailbox tab under UTF8", utf8, (*Encoder).Mailbox, "a\tb", "{3+}\r\na\tb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := encode(tc.opts, func(e *Encoder) { tc.build(e, tc.in) })
			if err != nil || got != tc.want+"\r\n" {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want+"\r\n")
			}
		})
	}
}

// TestEncoderRefuses checks that inputs which could break out of their
// place in the command line are refused before anything is written.
func TestEncoderRefuses(t *testing.T) {
	hostile := []string{
		"INBOX\r\nA1 DELETE x",
		"INBOX\nA1 DELETE x",
		"INBOX\rA1 DELETE x",
		"a\x00b",
	}
	kinds := map[string]func(e *Encoder, s string) *Encoder{
		"tag":     (*Encoder).Tag,
		"atom":    (*Encoder).Atom,
		"flag":    (*Encoder).Flag,
		"mailbox": (*Encoder).Mailbox,
		"quoted":  (*Encoder).Quoted,
		"seqset":  (*Encoder).SeqSet,
	}
	for kind, build := range kinds {
		for _, in := range hostile {
			got, err := encode(EncoderOptions{LiteralPlus: true}, func(e *Encoder) {
				e.Tag("A1").SP().Atom("SELECT").SP()
				build(e, in)
			})
			var refused *ArgumentError
			if !errors.As(err, &refused) || errors.Is(err, ErrPartialCommand) || got != "" {
				t.Errorf("%s(%q): wrote %q, error %v; want a refusal and nothing written", kind, in, got, err)
			}
		}
	}
	for kind, in := range map[string]string{
		"atom":          "a b",
		"atom quote":    `a"b`,
		"atom brace":    "{5}",
		"atom paren":    "a(b",
		"atom bracket":  "a]b",
		"atom wildcard": "a*",
		"atom 8-bit":    "café",
		"atom empty":    "",
		"flag":          `\`,
		"flag star":     `\*`,
		"flag space":    `\Seen \Deleted`,
		"tag plus":      "A+1",
		"quoted 8-bit":  "café",
		"mailbox utf8":  "caf\xe9",
		"string NUL":    "a\x00b",
		"nstring NUL":   "\x00",
	} {
		got, err := encode(EncoderOptions{LiteralPlus: true}, func(e *Encoder) {
			switch {
			case strings.HasPrefix(kind, "atom"):
				e.Atom(in)
			case strings.HasPrefix(kind, "flag"):
				e.Flag(in)
			case strings.HasPrefix(kind, "tag"):
				e.Tag(in)
			case strings.HasPrefix(kind, "quoted"):
				e.Quoted(in)
			case strings.HasPrefix(kind, "mailbox"):
				e.Mailbox(in)
			case strings.HasPrefix(kind, "string"):
				e.String(in)
			default:
				e.NString(&in)
			}
		})
		var refused *ArgumentError
		if !errors.As(err, &refused) || got != "" {
			t.Errorf("%s %q: wrote %q, error %v; want a refusal", kind, in, got, err)
		}
	}
}

// TestEncoderRoundTrip sends hostile strings and reads the command back as
// a server would: each must arrive as one argument of one command.
func TestEncoderRoundTrip(t *testing.T) {
	for _, in := range []string{
		"INBOX\r\nA1 DELETE x", `a"b`, `a\b`, `\"`, "{5}", "{5}\r\n", "x\r\n\r\n",
		"café", ")", "(", "NIL", "~{3}", "*", "%", "]", " ", "",
	} {
		for _, opts := range []EncoderOptions{{LiteralPlus: true}, {LiteralPlus: true, UTF8: true}} {
			got, err := encode(opts, func(e *Encoder) { e.Tag("A1").SP().Atom("X").SP().AString(in) })
			if err != nil {
				t.Fatalf("AString(%q): %v", in, err)
			}
			d := NewDecoder(bufio.NewReader(strings.NewReader(got)))
			tag, _ := d.ReadAtom()
			d.ExpectSP()
			cmd, _ := d.ReadAtom()
			d.ExpectSP()
			back, err := d.ReadAString()
			if err != nil || tag != "A1" || cmd != "X" || back != in {
				t.Fatalf("%q sent as %q read back as %q %q %q, %v", in, got, tag, cmd, back, err)
			}
			if err := d.ReadCRLF(); err != nil {
				t.Fatalf("%q sent as %q: %v", in, got, err)
			}
			if _, err := d.PeekByte(); err != io.EOF {
				t.Fatalf("%q sent as %q: more than one command", in, got)
			}
		}
	}
}

func TestEncoderLists(t *testing.T) {
	if _, err := encode(EncoderOptions{}, func(e *Encoder) { e.Atom("A").EndList() }); err == nil {
		t.Error("EndList without BeginList accepted")
	}
	if got, err := encode(EncoderOptions{}, func(e *Encoder) { e.Atom("A").BeginList() }); err == nil || got != "" {
		t.Errorf("unclosed list: wrote %q, %v", got, err)
	}
	if got, err := encode(EncoderOptions{}, func(e *Encoder) { e.List(0, nil) }); err != nil || got != "()\r\n" {
		t.Errorf("empty list: %q, %v", got, err)
	}
	if _, err := encode(EncoderOptions{}, func(e *Encoder) { e.Special('(') }); err == nil {
		t.Error("Special('(') accepted")
	}
}

func TestValidSeqSet(t *testing.T) {
	for set, want := range map[string]bool{
		"1": true, "*": true, "1:*": true, "*:1": true, "1:5,7,9:*": true, "4294967295": true,
		"": false, "0": false, "01": false, "1:": false, ":1": false, "1,,2": false,
		"1:2:3": false, "**": false, "*1": false, "1*": false, "4294967296": false,
		"1 2": false, "-1": false, "+1": false, "1,": false, "$": false,
	} {
		if got := validSeqSet(set); got != want {
			t.Errorf("validSeqSet(%q) = %v, want %v", set, got, want)
		}
	}
}

func TestFetchAtt(t *testing.T) {
	for _, ok := range []string{"UID", "FLAGS", "BODY.PEEK[]", "BODY.PEEK[]<0.100>", "BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]", "BINARY.PEEK[1.2]", "RFC822.SIZE"} {
		var b strings.Builder
		w := bufio.NewWriter(&b)
		if err := NewEncoder(w, EncoderOptions{}).FetchAtt(ok).CRLF(); err != nil {
			t.Errorf("FetchAtt(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "BODY[", "BODY[]]", "UID FLAGS", "BODY[]\r\nX", "BODY[\"x\"]", "BODY[{5}]", "A)B"} {
		var b strings.Builder
		w := bufio.NewWriter(&b)
		if err := NewEncoder(w, EncoderOptions{}).FetchAtt(bad).CRLF(); err == nil {
			t.Errorf("FetchAtt(%q) accepted", bad)
		}
	}
}
