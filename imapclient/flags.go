package imapclient

import (
	"bufio"
	"fmt"
	"strings"

	"imapfs/imapclient/imapwire"
)

// System flags (RFC 3501 section 2.3.2) and the wildcard PERMANENTFLAGS
// uses to say that new keywords may be created.
const (
	FlagSeen     = `\Seen`
	FlagAnswered = `\Answered`
	FlagFlagged  = `\Flagged`
	FlagDeleted  = `\Deleted`
	FlagDraft    = `\Draft`
	FlagRecent   = `\Recent` // set by the server only
	FlagWildcard = `\*`
)

// Registered keywords (RFC 5788 registry) that mail clients commonly use.
const (
	KeywordForwarded = "$Forwarded"
	KeywordMDNSent   = "$MDNSent"
	KeywordJunk      = "$Junk"
	KeywordNotJunk   = "$NotJunk"
	KeywordPhishing  = "$Phishing"
)

var systemFlags = []string{FlagSeen, FlagAnswered, FlagFlagged, FlagDeleted, FlagDraft, FlagRecent, FlagWildcard}

// CanonicalFlag returns the usual spelling of a system flag, which servers
// compare without regard to case (\seen is \Seen). Keywords are returned
// unchanged.
func CanonicalFlag(flag string) string {
	for _, f := range systemFlags {
		if strings.EqualFold(flag, f) {
			return f
		}
	}
	return flag
}

// ValidateFlag checks that flag may be set on a message by STORE or APPEND:
// a keyword atom, or a backslash and an atom, and not \Recent, which only
// the server sets.
func ValidateFlag(flag string) error {
	if strings.EqualFold(flag, FlagRecent) {
		return fmt.Errorf("imap: flag %s cannot be set by a client", FlagRecent)
	}
	if !imapwire.IsAtom(strings.TrimPrefix(flag, `\`)) {
		return fmt.Errorf("imap: %q is not a valid flag or keyword", flag)
	}
	return nil
}

// ParseFlags returns the flags of a parenthesised flag list, given either
// as the list itself, "(\Seen $Forwarded)", or as response text that
// contains "FLAGS (...)", as imaplib's ParseFlags takes it. System flags
// come back in their canonical spelling.
func ParseFlags(text string) ([]string, error) {
	list := text
	if !strings.HasPrefix(list, "(") {
		i := strings.Index(strings.ToUpper(text), "FLAGS (")
		if i < 0 {
			return nil, fmt.Errorf("imap: no flag list in %q", text)
		}
		list = text[i+len("FLAGS "):]
	}
	d := imapwire.NewDecoder(bufio.NewReader(strings.NewReader(list + "\r\n")))
	flags := []string{}
	err := d.ReadList(func() error {
		flag, err := d.ReadFlag()
		flags = append(flags, CanonicalFlag(flag))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("imap: bad flag list %q: %w", text, err)
	}
	return flags, nil
}
