package imapwire

import (
	"strconv"
	"strings"
)

// Kind tells which form a Value took on the wire.
type Kind uint8

const (
	KindNIL    Kind = iota
	KindAtom        // includes flags and fetch items such as BODY[TEXT]<0>
	KindNumber      // an atom of digits that fits in 64 bits
	KindString      // quoted or literal
	KindList
)

// Value is any response data parsed without knowing its meaning: the form
// for responses this package has no specific reader for.
type Value struct {
	Kind   Kind
	Text   string  // atom text, string content, or a number's digits; "" for NIL
	Number uint64  // for KindNumber
	List   []Value // for KindList
}

// maxValueDepth bounds list nesting so that a hostile server cannot
// exhaust the stack; real BODYSTRUCTUREs nest a few levels.
const maxValueDepth = 64

// ReadValue reads one value of any form. Its strings, atoms and elements
// together may not exceed MaxStringSize bytes.
func (d *Decoder) ReadValue() (Value, error) {
	budget := d.MaxStringSize
	return d.readValue(0, &budget)
}

func (d *Decoder) readValue(depth int, budget *int64) (Value, error) {
	c, err := d.PeekByte()
	if err != nil {
		return Value{}, err
	}
	var v Value
	switch {
	case c == '(':
		if depth >= maxValueDepth {
			return v, d.protocolError("value", "lists nested too deep")
		}
		v.Kind = KindList
		err = d.ReadList(func() error {
			elem, err := d.readValue(depth+1, budget)
			v.List = append(v.List, elem)
			return err
		})
	case c == '"' || c == '{' || c == '~' && d.literal8Next():
		v.Kind = KindString
		v.Text, err = d.ReadString()
	default:
		if v.Text, err = d.ReadAtom(); err == nil {
			v = classifyAtom(v.Text)
		}
	}
	if err != nil {
		return Value{}, err
	}
	if *budget -= int64(len(v.Text)) + 1; *budget < 0 {
		return Value{}, d.protocolError("value", "larger than the string limit")
	}
	return v, nil
}

// literal8Next tells a literal8 from an atom that starts with "~", such as
// a mailbox name "~peter/mail".
func (d *Decoder) literal8Next() bool {
	b, _ := d.Peek(2)
	return len(b) == 2 && b[1] == '{'
}

func classifyAtom(atom string) Value {
	if strings.EqualFold(atom, "NIL") {
		return Value{Kind: KindNIL}
	}
	if atom[0] >= '0' && atom[0] <= '9' {
		if n, err := strconv.ParseUint(atom, 10, 64); err == nil {
			return Value{Kind: KindNumber, Text: atom, Number: n}
		}
	}
	return Value{Kind: KindAtom, Text: atom}
}

// String renders v in IMAP syntax, for logs and for showing responses we
// pass through without interpreting.
func (v Value) String() string {
	var b strings.Builder
	v.render(&b)
	return b.String()
}

func (v Value) render(b *strings.Builder) {
	switch v.Kind {
	case KindNIL:
		b.WriteString("NIL")
	case KindString:
		if !isQuotable(v.Text, false) {
			b.WriteString("{" + strconv.Itoa(len(v.Text)) + "}\r\n" + v.Text)
			return
		}
		b.Write(appendQuoted(nil, v.Text))
	case KindList:
		b.WriteByte('(')
		for i, elem := range v.List {
			if i > 0 {
				b.WriteByte(' ')
			}
			elem.render(b)
		}
		b.WriteByte(')')
	default:
		b.WriteString(v.Text)
	}
}
