package imapwire

import (
	"bufio"
	"errors"
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
}

// Known reports whether this package recognises the code.
func (c *RespCode) Known() bool {
	_, ok := codeArgs[c.Name]
	return ok
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
// are returned with their raw text; a known code whose arguments do not
// parse is a *ProtocolError, read to its "]" so DiscardLine can go on.
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
		args.MaxStringSize = d.MaxStringSize
		if err := parse(code, args); err != nil {
			return nil, d.protocolError("response code "+code.Name, argumentProblem(err))
		}
	}
	return code, nil
}

// argumentProblem describes an error from decoding a code's arguments,
// which are all in memory: a *ProtocolError, or an end of input.
func argumentProblem(err error) string {
	var perr *ProtocolError
	if errors.As(err, &perr) {
		return perr.What + ": " + perr.Msg
	}
	return "arguments cut short"
}

// readCodeArgs reads the raw arguments of a response code, up to the "]"
// that closes it: one inside a quoted string or inside brackets (an IPv6
// address in a REFERRAL URL) does not.
func (d *Decoder) readCodeArgs() (string, error) {
	if c, err := d.PeekByte(); err != nil || c == ']' {
		return "", err
	}
	inQuotes, escaped, depth := false, false, 0
	return d.readWhile("response code", func(c byte) bool {
		switch {
		case c == '\r' || c == '\n':
			return false
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
				return false
			}
			depth--
		}
		return true
	})
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
