package imapwire

import (
	"strings"
	"unicode/utf8"
)

// isAtomChar reports whether b is an RFC 3501 ATOM-CHAR: any 7-bit
// character except controls and the atom-specials ( ) { SP % * " \ ].
func isAtomChar(b byte) bool {
	switch b {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return b > 0x1f && b < 0x7f
}

// IsAtom reports whether s is a non-empty RFC 3501 atom, the form that
// flags, keywords and most command arguments must take.
func IsAtom(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAtomChar(s[i]) {
			return false
		}
	}
	return true
}

// hasLineBreakOrNUL reports whether s holds a byte that can end or corrupt
// a command line outside a literal.
func hasLineBreakOrNUL(s string) bool {
	return strings.ContainsAny(s, "\r\n\x00")
}

// isQuotable reports whether s can travel as a quoted string. We only quote
// printable 7-bit text (and valid UTF-8 once UTF8=ACCEPT is enabled, RFC
// 6855 section 3); anything else, tabs included, goes as a literal.
func isQuotable(s string, utf8Enabled bool) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b >= 0x80 {
			if !utf8Enabled {
				return false
			}
			continue
		}
		if b < 0x20 || b == 0x7f {
			return false
		}
	}
	return !utf8Enabled || utf8.ValidString(s)
}

// endsAtom reports whether b ends an atom being read. Reading is looser than
// RFC 3501: backslash and "*" are accepted (flags like \Seen and \*,
// sequence sets like 1:*), and so are 8-bit bytes.
func endsAtom(b byte) bool {
	switch b {
	case ' ', '(', ')', '{', '"', ']':
		return true
	}
	return b < 0x20 || b == 0x7f
}

// appendQuoted appends s as a quoted string; the caller has checked that s
// is quotable.
func appendQuoted(buf []byte, s string) []byte {
	buf = append(buf, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			buf = append(buf, '\\')
		}
		buf = append(buf, s[i])
	}
	return append(buf, '"')
}
