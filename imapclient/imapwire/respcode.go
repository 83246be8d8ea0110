package imapwire

import (
	"bufio"
	"strings"
)

// Response code names (RFC 3501 7.1, RFC 4315 UIDPLUS, RFC 5530 response
// codes, RFC 7162 CONDSTORE/QRESYNC, RFC 5464 METADATA, RFC 5257 ANNOTATE,
// RFC 5267 CONTEXT, RFC 3516 BINARY, RFC 6154 SPECIAL-USE, RFC 5465 NOTIFY).
const (
	CodeAlert                = "ALERT"
	CodeBadCharset           = "BADCHARSET"
	CodeCapability           = "CAPABILITY"
	CodeParse                = "PARSE"
	CodePermanentFlags       = "PERMANENTFLAGS"
	CodeReadOnly             = "READ-ONLY"
	CodeReadWrite            = "READ-WRITE"
	CodeTryCreate            = "TRYCREATE"
	CodeUIDNext              = "UIDNEXT"
	CodeUIDValidity          = "UIDVALIDITY"
	CodeUnseen               = "UNSEEN"
	CodeAppendUID            = "APPENDUID"
	CodeCopyUID              = "COPYUID"
	CodeUIDNotSticky         = "UIDNOTSTICKY"
	CodeHighestModSeq        = "HIGHESTMODSEQ"
	CodeNoModSeq             = "NOMODSEQ"
	CodeModified             = "MODIFIED"
	CodeClosed               = "CLOSED"
	CodeOverQuota            = "OVERQUOTA"
	CodeNonExistent          = "NONEXISTENT"
	CodeAlreadyExists        = "ALREADYEXISTS"
	CodeLimit                = "LIMIT"
	CodeNoPerm               = "NOPERM"
	CodeInUse                = "INUSE"
	CodeExpungeIssued        = "EXPUNGEISSUED"
	CodeCannot               = "CANNOT"
	CodeServerBug            = "SERVERBUG"
	CodeClientBug            = "CLIENTBUG"
	CodeUnavailable          = "UNAVAILABLE"
	CodeAuthenticationFailed = "AUTHENTICATIONFAILED"
	CodeAuthorizationFailed  = "AUTHORIZATIONFAILED"
	CodeExpired              = "EXPIRED"
	CodePrivacyRequired      = "PRIVACYREQUIRED"
	CodeContactAdmin         = "CONTACTADMIN"
	CodeCorruption           = "CORRUPTION"
	CodeExpunged             = "EXPUNGED"
	CodeUnknownCTE           = "UNKNOWN-CTE"
	CodeUseAttr              = "USEATTR"
	CodeHasChildren          = "HASCHILDREN"
	CodeMetadata             = "METADATA"
	CodeAnnotate             = "ANNOTATE"
	CodeNoUpdate             = "NOUPDATE"
)

// RespCode is a response code, the "[NAME args]" that may open the text of
// a status response. Which fields are set depends on Name; codes this
// package does not know keep only Name and Raw.
type RespCode struct {
	Name string // in capitals
	Raw  string // the arguments as sent, "" when there are none

	// Number: UIDVALIDITY, UIDNEXT, UNSEEN, HIGHESTMODSEQ, and the limit of
	// METADATA LONGENTRIES and MAXSIZE.
	Number uint64
	// List: CAPABILITY's capabilities, PERMANENTFLAGS's flags, BADCHARSET's
	// charsets.
	List []string
	// UIDValidity, SourceUIDs and UIDs: APPENDUID (no SourceUIDs) and
	// COPYUID, as sequence sets.
	UIDValidity uint32
	SourceUIDs  string
	UIDs        string
	// Set: MODIFIED's sequence set.
	Set string
	// Arg: the sub-code of METADATA and ANNOTATE (LONGENTRIES, MAXSIZE,
	// TOOMANY, NOPRIVATE, TOOBIG), in capitals; the search tag of NOUPDATE.
	Arg string

	malformed bool // a known name with arguments that do not parse
}

// Known reports whether this package recognises the code: its name is
// known and its arguments are what that code takes. Only then are the
// fields beyond Name and Raw set.
func (c *RespCode) Known() bool {
	_, ok := codeArgs[c.Name]
	return ok && !c.malformed
}

// codeArgs parses the arguments of each known code; nil for codes without.
var codeArgs = map[string]func(*RespCode, *Decoder) error{
	CodeAlert: nil, CodeParse: nil, CodeReadOnly: nil, CodeReadWrite: nil,
	CodeTryCreate: nil, CodeUIDNotSticky: nil, CodeNoModSeq: nil, CodeClosed: nil,
	CodeOverQuota: nil, CodeNonExistent: nil, CodeAlreadyExists: nil,
	CodeLimit: nil, CodeNoPerm: nil, CodeInUse: nil, CodeExpungeIssued: nil,
	CodeCannot: nil, CodeServerBug: nil, CodeClientBug: nil,
	CodeUnavailable: nil, CodeAuthenticationFailed: nil,
	CodeAuthorizationFailed: nil, CodeExpired: nil, CodePrivacyRequired: nil,
	CodeContactAdmin: nil, CodeCorruption: nil, CodeExpunged: nil,
	CodeUnknownCTE: nil, CodeUseAttr: nil, CodeHasChildren: nil,

	CodeUIDValidity:   number32Arg,
	CodeUIDNext:       number32Arg,
	CodeUnseen:        number32Arg,
	CodeHighestModSeq: number64Arg,
	CodeCapability: func(c *RespCode, _ *Decoder) error {
		c.List = strings.Fields(c.Raw)
		return nil
	},
	CodePermanentFlags: func(c *RespCode, d *Decoder) error {
		return d.ReadList(func() error { return appendRead(&c.List, d.ReadFlag) })
	},
	CodeBadCharset: func(c *RespCode, d *Decoder) error {
		if c.Raw == "" {
			return nil
		}
		return d.ReadList(func() error { return appendRead(&c.List, d.ReadAString) })
	},
	CodeAppendUID: func(c *RespCode, d *Decoder) error {
		return uidValidityAndSets(c, d, &c.UIDs)
	},
	CodeCopyUID: func(c *RespCode, d *Decoder) error {
		return uidValidityAndSets(c, d, &c.SourceUIDs, &c.UIDs)
	},
	CodeModified: func(c *RespCode, d *Decoder) error {
		return readSeqSet(d, &c.Set)
	},
	CodeMetadata: func(c *RespCode, d *Decoder) error {
		if err := subCode(c, d); err != nil {
			return err
		}
		if c.Arg == "LONGENTRIES" || c.Arg == "MAXSIZE" {
			if err := d.ExpectSP(); err != nil {
				return err
			}
			return number64Arg(c, d)
		}
		return nil
	},
	CodeAnnotate: subCode,
	CodeNoUpdate: func(c *RespCode, d *Decoder) error {
		var err error
		c.Arg, err = d.ReadAString()
		return err
	},
}

func number32Arg(c *RespCode, d *Decoder) error {
	n, err := d.ReadNumber()
	c.Number = uint64(n)
	return err
}

func number64Arg(c *RespCode, d *Decoder) (err error) {
	c.Number, err = d.ReadNumber64()
	return err
}

func subCode(c *RespCode, d *Decoder) error {
	sub, err := d.ReadAtom()
	c.Arg = strings.ToUpper(sub)
	return err
}

func appendRead(list *[]string, read func() (string, error)) error {
	s, err := read()
	*list = append(*list, s)
	return err
}

func uidValidityAndSets(c *RespCode, d *Decoder, sets ...*string) (err error) {
	if c.UIDValidity, err = d.ReadNumber(); err != nil {
		return err
	}
	for _, set := range sets {
		if err := d.ExpectSP(); err != nil {
			return err
		}
		if err := readSeqSet(d, set); err != nil {
			return err
		}
	}
	return nil
}

func readSeqSet(d *Decoder, set *string) (err error) {
	if *set, err = d.ReadAtom(); err != nil {
		return err
	}
	if !validSeqSet(*set) {
		return d.protocolError("sequence set", "malformed")
	}
	return nil
}

// ReadRespCode reads a response code from its "[" to its "]". Unknown codes
// are returned with their raw text, and so is a known code whose arguments
// do not parse (Known is false for it): a server's odd code must not cost
// the command its status, nor the connection its place in the stream.
func (d *Decoder) ReadRespCode() (*RespCode, error) {
	if err := d.expectByte("response code", '['); err != nil {
		return nil, err
	}
	name, err := d.readWhile("response code", func(c byte) bool {
		return c != ' ' && c != ']' && c != '\r' && c != '\n'
	})
	if err != nil {
		return nil, err
	}
	code := &RespCode{Name: strings.ToUpper(name)}
	if d.ReadSP() {
		if code.Raw, err = d.readCodeArgs(); err != nil {
			return nil, err
		}
	}
	if err := d.expectByte("response code", ']'); err != nil {
		return nil, err
	}
	if parse := codeArgs[code.Name]; parse != nil {
		// The CRLF ends the last argument as the "]" did on the wire.
		args := NewDecoder(bufio.NewReader(strings.NewReader(code.Raw + "\r\n")))
		args.MaxStringSize, args.MaxResponseSize = d.MaxStringSize, d.MaxResponseSize
		if err := parse(code, args); err != nil {
			code = &RespCode{Name: code.Name, Raw: code.Raw, malformed: true}
		}
	}
	return code, nil
}

// readCodeArgs reads the raw arguments of a response code, up to the "]"
// that closes it. A "]" inside a quoted string does not close it, nor one
// that closes a "[" of the arguments (an IPv6 address in a REFERRAL URL)
// unless a space or the end of the line follows: a keyword in
// PERMANENTFLAGS may hold a "[" that nothing closes.
func (d *Decoder) readCodeArgs() (string, error) {
	var raw []byte
	inQuotes, escaped, depth := false, false, 0
	for {
		c, err := d.PeekByte()
		if err != nil {
			return "", err
		}
		switch {
		case c == '\r' || c == '\n':
			return string(raw), nil // the caller reports the missing "]"
		case escaped:
			escaped = false
		case inQuotes:
			escaped = c == '\\'
			inQuotes = c != '"'
		case c == '"':
			inQuotes = true
		case c == '[':
			depth++
		case c == ']':
			if depth == 0 {
				return string(raw), nil
			}
			// Peek(2) cannot block for long: a line ends after the "]".
			if next, _ := d.Peek(2); len(next) == 2 && (next[1] == ' ' || next[1] == '\r' || next[1] == '\n') {
				return string(raw), nil
			}
			depth--
		}
		if int64(len(raw)) >= d.MaxStringSize {
			return "", d.tooLarge("response code", "too long")
		}
		if err := d.hold("response code", 1); err != nil {
			return "", err
		}
		raw = append(raw, c)
		d.discard(1)
	}
}

// ReadRespText reads what follows a status word such as OK: the space, an
// optional response code and the human-readable text, up to but not
// including the CRLF. A missing space or missing text is tolerated.
func (d *Decoder) ReadRespText() (*RespCode, string, error) {
	d.ReadSP()
	c, err := d.PeekByte()
	if err != nil {
		return nil, "", err
	}
	var code *RespCode
	if c == '[' {
		if code, err = d.ReadRespCode(); err != nil {
			return nil, "", err
		}
		d.ReadSP()
	}
	text, err := d.ReadText()
	return code, text, err
}
