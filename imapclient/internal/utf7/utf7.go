// Package utf7 implements the modified UTF-7 of RFC 3501 section 5.1.3,
// the encoding of international mailbox names.
//
// Printable US-ASCII stands for itself, except "&" which is written "&-".
// Every other run of characters is written as "&", the modified base64
// (with "," for "/" and no padding) of its UTF-16BE form, and "-".
//
// Decode accepts only the one canonical spelling of each name, so that
// Encode(Decode(s)) == s whenever Decode succeeds: two spellings of one
// name would let a client and a server disagree about which mailbox is meant.
package utf7

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

var b64 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").
	WithPadding(base64.NoPadding).Strict()

// Errors returned by Encode and Decode.
var (
	ErrInvalidUTF8  = errors.New("utf7: name is not valid UTF-8")
	ErrInvalidUTF7  = errors.New("utf7: malformed modified UTF-7")
	ErrUnterminated = errors.New("utf7: shift sequence without closing '-'")
)

func isDirect(b byte) bool { return b >= 0x20 && b <= 0x7e }

// Encode converts a UTF-8 mailbox name to modified UTF-7.
func Encode(name string) (string, error) {
	if !utf8.ValidString(name) {
		return "", ErrInvalidUTF8
	}
	var out strings.Builder
	for i := 0; i < len(name); {
		if isDirect(name[i]) {
			out.WriteByte(name[i])
			if name[i] == '&' {
				out.WriteByte('-')
			}
			i++
			continue
		}
		end := i
		for end < len(name) && !isDirect(name[end]) {
			_, size := utf8.DecodeRuneInString(name[end:])
			end += size
		}
		out.WriteByte('&')
		out.WriteString(b64.EncodeToString(utf16BE(name[i:end])))
		out.WriteByte('-')
		i = end
	}
	return out.String(), nil
}

func utf16BE(s string) []byte {
	units := utf16.Encode([]rune(s))
	b := make([]byte, 0, 2*len(units))
	for _, u := range units {
		b = append(b, byte(u>>8), byte(u))
	}
	return b
}

// Decode converts a modified UTF-7 mailbox name to UTF-8.
func Decode(name string) (string, error) {
	var out strings.Builder
	shiftEnd := -1 // index just past the last base64 run, to reject "&..-&..-"
	for i := 0; i < len(name); {
		c := name[i]
		if !isDirect(c) {
			return "", ErrInvalidUTF7
		}
		if c != '&' {
			out.WriteByte(c)
			i++
			continue
		}
		n := strings.IndexByte(name[i+1:], '-')
		if n < 0 {
			return "", ErrUnterminated
		}
		run := name[i+1 : i+1+n]
		if run == "" {
			out.WriteByte('&')
			i += 2
			continue
		}
		if i == shiftEnd {
			return "", ErrInvalidUTF7
		}
		if err := decodeRun(&out, run); err != nil {
			return "", err
		}
		i += n + 2
		shiftEnd = i
	}
	return out.String(), nil
}

// decodeRun appends the characters of one base64 run. It refuses runs that
// Encode would never produce: stray bits, half UTF-16 units, unpaired
// surrogates and printable ASCII that should have been written directly.
func decodeRun(out *strings.Builder, run string) error {
	raw, err := b64.DecodeString(run)
	if err != nil || len(raw)%2 != 0 {
		return ErrInvalidUTF7
	}
	for i := 0; i < len(raw); i += 2 {
		r := rune(raw[i])<<8 | rune(raw[i+1])
		if utf16.IsSurrogate(r) {
			if i+3 >= len(raw) {
				return ErrInvalidUTF7
			}
			r = utf16.DecodeRune(r, rune(raw[i+2])<<8|rune(raw[i+3]))
			if r == utf8.RuneError {
				return ErrInvalidUTF7
			}
			i += 2
		}
		if r < utf8.RuneSelf && isDirect(byte(r)) {
			return ErrInvalidUTF7
		}
		out.WriteRune(r)
	}
	return nil
}
