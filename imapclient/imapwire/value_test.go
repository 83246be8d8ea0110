package imapwire

import (
	"reflect"
	"strings"
	"testing"
)

func TestReadValue(t *testing.T) {
	atom := func(s string) Value { return Value{Kind: KindAtom, Text: s} }
	str := func(s string) Value { return Value{Kind: KindString, Text: s} }
	num := func(s string, n uint64) Value { return Value{Kind: KindNumber, Text: s, Number: n} }
	list := func(v ...Value) Value { return Value{Kind: KindList, List: v} }
	nilValue := Value{Kind: KindNIL}
	for _, tc := range []struct {
		in   string
		want Value
	}{
		{"NIL", nilValue},
		{"nil", nilValue},
		{"42", num("42", 42)},
		{"18446744073709551616", atom("18446744073709551616")},
		{"4:*", atom("4:*")},
		{`\Seen`, atom(`\Seen`)},
		{"~peter/mail", atom("~peter/mail")},
		{"~{3}\r\na\x00b", str("a\x00b")},
		{"{4}\r\n(a b", str("(a b")},
		{`"x y"`, str("x y")},
		{"()", list()},
		{`(UID 7 FLAGS (\Seen) BODY[HEADER.FIELDS (TO)] {2}` + "\r\nhi)", list(
			atom("UID"), num("7", 7), atom("FLAGS"), list(atom(`\Seen`)),
			atom("BODY[HEADER.FIELDS (TO)]"), str("hi"))},
		{`(("Joe" NIL "joe" "example.org")) NIL`, list(list(str("Joe"), nilValue, str("joe"), str("example.org")))},
		{`(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 3 1)("text" "html" NIL NIL NIL "7bit" 5 1) "alternative")`,
			list(
				list(str("text"), str("plain"), list(str("charset"), str("us-ascii")), nilValue, nilValue, str("7bit"), num("3", 3), num("1", 1)),
				list(str("text"), str("html"), nilValue, nilValue, nilValue, str("7bit"), num("5", 5), num("1", 1)),
				str("alternative"))},
	} {
		got, err := decoderFor(tc.in + "\r\n").ReadValue()
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ReadValue(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestReadValueLimits(t *testing.T) {
	deep := strings.Repeat("(", 100) + strings.Repeat(")", 100)
	mustProtocolError(t, func() error { _, err := decoderFor(deep).ReadValue(); return err }())

	d := decoderFor("(" + strings.Repeat(`"0123456789" `, 20) + ")\r\n")
	d.MaxStringSize = 100
	mustProtocolError(t, func() error { _, err := d.ReadValue(); return err }())

	mustProtocolError(t, func() error { _, err := decoderFor(")").ReadValue(); return err }())
}

func TestValueString(t *testing.T) {
	in := `(UID 7 FLAGS (\Seen $X) ENVELOPE (NIL "a \"q\" \\ b") BODY[] {4}` + "\r\na\r\nb)"
	v, err := decoderFor(in).ReadValue()
	if err != nil {
		t.Fatal(err)
	}
	if got := v.String(); got != in {
		t.Fatalf("String() = %q, want %q", got, in)
	}
}
