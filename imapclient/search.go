package imapclient

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"imapfs/imapclient/imapwire"
)

// SearchCriteria is a checked search program (RFC 3501 6.4.4 search-key,
// with the keys of CONDSTORE, WITHIN, SAVEDATE, FUZZY and OBJECTID),
// made by ParseSearchCriteria from text a user may have typed. It is kept
// as tokens, so that it reaches the wire only through the encoder: its
// strings are quoted or sent as literals there, and nothing in it can end
// the command line or open a literal of its own.
type SearchCriteria struct {
	// Charset is sent as CHARSET. Empty means UTF-8 when a string is not
	// ASCII, and no CHARSET otherwise. Strings are always given in UTF-8,
	// so another charset only suits criteria whose strings are ASCII.
	Charset string

	tokens []searchToken
}

type searchTokenKind uint8

const (
	searchAtom   searchTokenKind = iota // a key name, number, date or keyword, checked
	searchSet                           // a sequence set, checked
	searchString                        // any text: quoted or a literal on the wire
	searchOpen
	searchClose
)

type searchToken struct {
	kind searchTokenKind
	text string
}

// searchMaxDepth bounds the nesting of parentheses, NOT, OR and FUZZY.
const searchMaxDepth = 64

// searchArg is the kind of one argument of a search key.
type searchArg uint8

const (
	searchArgString searchArg = iota
	searchArgDate
	searchArgNumber
	searchArgKeyword
	searchArgSet
	searchArgKey
)

// searchKeys lists every search key we send and its arguments. A key not
// listed is refused: the program must mean what the caller typed.
var searchKeys = map[string][]searchArg{
	"ALL": nil, "ANSWERED": nil, "DELETED": nil, "DRAFT": nil, "FLAGGED": nil,
	"NEW": nil, "OLD": nil, "RECENT": nil, "SEEN": nil, "UNANSWERED": nil,
	"UNDELETED": nil, "UNDRAFT": nil, "UNFLAGGED": nil, "UNSEEN": nil,
	"SAVEDATESUPPORTED": nil,

	"BCC": {searchArgString}, "BODY": {searchArgString}, "CC": {searchArgString},
	"FROM": {searchArgString}, "SUBJECT": {searchArgString},
	"TEXT": {searchArgString}, "TO": {searchArgString},
	"HEADER": {searchArgString, searchArgString},

	"BEFORE": {searchArgDate}, "ON": {searchArgDate}, "SINCE": {searchArgDate},
	"SENTBEFORE": {searchArgDate}, "SENTON": {searchArgDate}, "SENTSINCE": {searchArgDate},
	"SAVEDBEFORE": {searchArgDate}, "SAVEDON": {searchArgDate}, "SAVEDSINCE": {searchArgDate},

	"KEYWORD": {searchArgKeyword}, "UNKEYWORD": {searchArgKeyword},
	"EMAILID": {searchArgKeyword}, "THREADID": {searchArgKeyword},
	"LARGER": {searchArgNumber}, "SMALLER": {searchArgNumber},
	"OLDER": {searchArgNumber}, "YOUNGER": {searchArgNumber},
	"UID": {searchArgSet},

	"NOT": {searchArgKey}, "FUZZY": {searchArgKey},
	"OR": {searchArgKey, searchArgKey},
	// MODSEQ has an optional entry name and type; see modSeqKey.
}

// ParseSearchCriteria checks search criteria written in IMAP syntax, such
// as `FROM "alice" SINCE 1-Jan-2025 UNSEEN` or `OR SUBJECT café (LARGER
// 1000 NOT SEEN)`. Strings may be quoted (with \" and \\ escapes) or bare
// words, and may hold any UTF-8. It refuses, with an error that names the
// problem: control characters (CR, LF, NUL, ...), unbalanced quotes or
// parentheses, unknown keys, missing or malformed arguments (dates are
// d-Mon-yyyy), literal syntax, and empty criteria.
func ParseSearchCriteria(text string) (*SearchCriteria, error) {
	lex, err := searchLex(text)
	if err != nil {
		return nil, err
	}
	if len(lex) == 0 {
		return nil, searchError("no search key")
	}
	p := &searchParser{lex: lex}
	for p.pos < len(p.lex) {
		if err := p.key(0); err != nil {
			return nil, err
		}
	}
	return &SearchCriteria{tokens: p.out}, nil
}

func searchError(format string, args ...any) error {
	return fmt.Errorf("imap: invalid search criteria: "+format, args...)
}

// searchLexeme is a bare word, a quoted string (unescaped) or a
// parenthesis.
type searchLexeme struct {
	text   string
	quoted bool
	paren  byte
}

func searchLex(text string) ([]searchLexeme, error) {
	if !utf8.ValidString(text) {
		return nil, searchError("not valid UTF-8")
	}
	for i := 0; i < len(text); i++ {
		if text[i] < 0x20 || text[i] == 0x7f {
			return nil, searchError("control character %q at byte %d", text[i], i)
		}
	}
	var lex []searchLexeme
	for i := 0; i < len(text); {
		switch c := text[i]; c {
		case ' ':
			i++
		case '(', ')':
			lex = append(lex, searchLexeme{paren: c})
			i++
		case '"':
			var b strings.Builder
			i++
			for {
				if i >= len(text) {
					return nil, searchError("unterminated quoted string")
				}
				c := text[i]
				i++
				if c == '"' {
					break
				}
				if c == '\\' {
					if i >= len(text) || (text[i] != '"' && text[i] != '\\') {
						return nil, searchError(`a backslash in a quoted string must escape " or \`)
					}
					c = text[i]
					i++
				}
				b.WriteByte(c)
			}
			lex = append(lex, searchLexeme{text: b.String(), quoted: true})
		default:
			start := i
			for i < len(text) && !strings.ContainsRune(` ()"`, rune(text[i])) {
				i++
			}
			lex = append(lex, searchLexeme{text: text[start:i]})
		}
	}
	return lex, nil
}

type searchParser struct {
	lex []searchLexeme
	pos int
	out []searchToken
}

func (p *searchParser) next(what string) (searchLexeme, error) {
	if p.pos >= len(p.lex) {
		return searchLexeme{}, searchError("%s missing at the end", what)
	}
	l := p.lex[p.pos]
	p.pos++
	if l.paren != 0 && what != "search key" {
		return l, searchError("%s expected, found %q", what, string(l.paren))
	}
	return l, nil
}

func (p *searchParser) emit(kind searchTokenKind, text string) {
	p.out = append(p.out, searchToken{kind: kind, text: text})
}

// key reads one search key with its arguments.
func (p *searchParser) key(depth int) error {
	if depth >= searchMaxDepth {
		return searchError("nested too deep")
	}
	l, err := p.next("search key")
	if err != nil {
		return err
	}
	switch {
	case l.paren == ')':
		return searchError("unbalanced parenthesis")
	case l.paren == '(':
		p.emit(searchOpen, "")
		for {
			if p.pos >= len(p.lex) {
				return searchError("unbalanced parenthesis")
			}
			if p.lex[p.pos].paren == ')' {
				if p.out[len(p.out)-1].kind == searchOpen {
					return searchError("empty parentheses")
				}
				p.pos++
				p.emit(searchClose, "")
				return nil
			}
			if err := p.key(depth + 1); err != nil {
				return err
			}
		}
	case l.quoted:
		return searchError("string %q where a search key is expected", l.text)
	}
	name := strings.ToUpper(l.text)
	if name == "MODSEQ" {
		return p.modSeqKey()
	}
	args, ok := searchKeys[name]
	if !ok {
		if _, err := ParseSeqSet(l.text); err == nil {
			p.emit(searchSet, l.text)
			return nil
		}
		return searchError("unknown search key %q", l.text)
	}
	p.emit(searchAtom, name)
	for _, arg := range args {
		if err := p.arg(name, arg, depth); err != nil {
			return err
		}
	}
	return nil
}

func (p *searchParser) arg(key string, arg searchArg, depth int) error {
	if arg == searchArgKey {
		return p.key(depth + 1)
	}
	l, err := p.next("argument of " + key)
	if err != nil {
		return err
	}
	switch arg {
	case searchArgString:
		p.emit(searchString, l.text)
	case searchArgDate:
		d, err := time.Parse("2-Jan-2006", l.text)
		if err != nil {
			return searchError("%s needs a date like 1-Jan-2025, not %q", key, l.text)
		}
		p.emit(searchAtom, d.Format("2-Jan-2006"))
	case searchArgNumber:
		if _, err := strconv.ParseUint(l.text, 10, 32); err != nil || l.quoted {
			return searchError("%s needs a number, not %q", key, l.text)
		}
		p.emit(searchAtom, l.text)
	case searchArgKeyword:
		if !imapwire.IsAtom(l.text) || l.quoted {
			return searchError("%s needs a keyword, not %q", key, l.text)
		}
		p.emit(searchAtom, l.text)
	case searchArgSet:
		if _, err := ParseSeqSet(l.text); err != nil || l.quoted {
			return searchError("%s needs a sequence set, not %q", key, l.text)
		}
		p.emit(searchSet, l.text)
	}
	return nil
}

// modSeqKey reads the rest of "MODSEQ [entry-name entry-type] modseq"
// (RFC 7162 3.1.5), e.g. MODSEQ "/flags/\\draft" all 620162338.
func (p *searchParser) modSeqKey() error {
	p.emit(searchAtom, "MODSEQ")
	l, err := p.next("argument of MODSEQ")
	if err != nil {
		return err
	}
	if l.quoted {
		p.emit(searchString, l.text)
		typ, err := p.next("entry type of MODSEQ")
		if err != nil {
			return err
		}
		switch t := strings.ToLower(typ.text); {
		case typ.quoted || (t != "priv" && t != "shared" && t != "all"):
			return searchError("MODSEQ entry type must be priv, shared or all, not %q", typ.text)
		default:
			p.emit(searchAtom, t)
		}
		if l, err = p.next("mod-sequence of MODSEQ"); err != nil {
			return err
		}
	}
	if _, err := strconv.ParseUint(l.text, 10, 63); err != nil || l.quoted {
		return searchError("MODSEQ needs a mod-sequence, not %q", l.text)
	}
	p.emit(searchAtom, l.text)
	return nil
}

// String renders the criteria in IMAP syntax, strings quoted, for logs and
// for showing the user what will be searched.
func (sc *SearchCriteria) String() string {
	var b strings.Builder
	for i, t := range sc.tokens {
		if i > 0 && t.kind != searchClose && sc.tokens[i-1].kind != searchOpen {
			b.WriteByte(' ')
		}
		switch t.kind {
		case searchOpen:
			b.WriteByte('(')
		case searchClose:
			b.WriteByte(')')
		case searchString:
			b.WriteString(`"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(t.text) + `"`)
		default:
			b.WriteString(t.text)
		}
	}
	return b.String()
}

// charset returns the CHARSET to send, "" for none.
func (sc *SearchCriteria) charset() (string, error) {
	if sc == nil || len(sc.tokens) == 0 {
		return "", searchError("no search key")
	}
	ascii := true
	for _, t := range sc.tokens {
		for i := 0; i < len(t.text); i++ {
			ascii = ascii && t.text[i] < 0x80
		}
	}
	switch {
	case sc.Charset == "" && !ascii:
		return "UTF-8", nil
	case sc.Charset != "" && !imapwire.IsAtom(sc.Charset):
		return "", searchError("charset %q is not an atom", sc.Charset)
	case !ascii && !strings.EqualFold(sc.Charset, "UTF-8"):
		return "", searchError("strings are UTF-8 but the charset is %s", sc.Charset)
	}
	return sc.Charset, nil
}

// searchCharset is the CHARSET a SEARCH sends: none once UTF8=ACCEPT is
// enabled, when the strings are UTF-8 by definition and a CHARSET is
// forbidden (RFC 6855 3).
func (c *Client) searchCharset(criteria *SearchCriteria) (string, error) {
	charset, err := criteria.charset()
	if err != nil || c.Enabled("UTF8=ACCEPT") {
		return "", err
	}
	return charset, nil
}

// encode writes the search keys.
func (sc *SearchCriteria) encode(e *imapwire.Encoder) {
	for i, t := range sc.tokens {
		if i > 0 && t.kind != searchClose && sc.tokens[i-1].kind != searchOpen {
			e.SP()
		}
		switch t.kind {
		case searchOpen:
			e.BeginList()
		case searchClose:
			e.EndList()
		case searchString:
			e.AString(t.text)
		case searchSet:
			e.SeqSet(t.text)
		default:
			e.Atom(t.text)
		}
	}
}

// Search runs SEARCH (imaplib's search) and returns the matching sequence
// numbers in the server's order. A charset the server lacks fails with
// the BADCHARSET code (HasCode(imapwire.CodeBadCharset)), whose List names
// the ones it has.
func (c *Client) Search(ctx context.Context, criteria *SearchCriteria) ([]uint32, error) {
	return c.search(ctx, false, criteria)
}

// UIDSearch runs UID SEARCH (imaplib's uid('SEARCH', ...)) and returns the
// matching UIDs.
func (c *Client) UIDSearch(ctx context.Context, criteria *SearchCriteria) ([]uint32, error) {
	return c.search(ctx, true, criteria)
}

func (c *Client) search(ctx context.Context, uid bool, criteria *SearchCriteria) ([]uint32, error) {
	charset, err := c.searchCharset(criteria)
	if err != nil {
		return nil, err
	}
	// With IMAP4rev2 enabled the answer is ESEARCH (RFC 9051 6.4.4).
	cmd := newCommand(searchUIDName(uid, "SEARCH"), "SEARCH", "ESEARCH")
	var nums []uint32
	cmd.handle = func(u *untagged) error {
		read := searchReadNumbers
		if u.Name == "ESEARCH" {
			read = c.searchReadESearchAll
		}
		got, err := read(u.dec)
		cmd.deliver(func() { nums = append(nums, got...) })
		return err
	}
	_, err = c.execute(ctx, cmd, func(e *imapwire.Encoder) {
		searchWriteUID(e, uid)
		e.Atom("SEARCH")
		searchWriteCriteria(e, charset, criteria)
	})
	if err != nil {
		return nil, err
	}
	return nums, nil
}

func searchUIDName(uid bool, name string) string {
	if uid {
		return "UID " + name
	}
	return name
}

func searchWriteUID(e *imapwire.Encoder, uid bool) {
	if uid {
		e.Atom("UID").SP()
	}
}

// writeSearchCriteria writes " [CHARSET x ]keys".
func searchWriteCriteria(e *imapwire.Encoder, charset string, criteria *SearchCriteria) {
	if charset != "" {
		e.SP().Atom("CHARSET").SP().Atom(charset)
	}
	e.SP()
	criteria.encode(e)
}

// readNumberList reads the numbers of a SEARCH or SORT response, " 2 3 6",
// skipping the "(MODSEQ n)" CONDSTORE may add at the end.
func searchReadNumbers(dec *imapwire.Decoder) ([]uint32, error) {
	var nums []uint32
	for dec.ReadSP() {
		switch b, err := dec.PeekByte(); {
		case err != nil:
			return nil, err
		case b == '\r':
			return nums, nil // a trailing space, which some servers send
		case b == '(':
			if _, err := dec.ReadValue(); err != nil {
				return nil, err
			}
		default:
			n, err := dec.ReadNumber()
			if err != nil {
				return nil, err
			}
			nums = append(nums, n)
		}
	}
	return nums, nil
}

// searchReadESearchAll reads an ESEARCH answer to a plain SEARCH, whose
// ALL lists the matches, as numbers. A match cannot outnumber the
// messages, which bounds what a compact set may expand to.
func (c *Client) searchReadESearchAll(dec *imapwire.Decoder) ([]uint32, error) {
	d, err := searchReadESearch(dec)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	var most uint32
	if c.mailbox != nil {
		most = c.mailbox.Exists
	}
	c.mu.Unlock()
	var nums []uint32
	for n := range d.All.All() {
		if uint32(len(nums)) == most {
			return nil, &imapwire.ProtocolError{What: "ESEARCH ALL", Msg: "more matches than messages"}
		}
		nums = append(nums, n)
	}
	return nums, nil
}

// SearchReturn selects the results of an extended search (RFC 4731). With
// none selected the server returns ALL.
type SearchReturn struct {
	Min, Max, All, Count bool
}

// SearchData is the answer to an extended search. Min and Max are 0 when
// nothing matched; ModSeq is set when the criteria used MODSEQ.
type SearchData struct {
	UID      bool // the numbers are UIDs
	Min, Max uint32
	Count    uint32
	All      SeqSet
	ModSeq   uint64
}

// SearchExtended runs SEARCH RETURN (...) (ESEARCH, RFC 4731), which
// returns the minimum, maximum, count or a compact set of the matching
// sequence numbers.
func (c *Client) SearchExtended(ctx context.Context, criteria *SearchCriteria, ret SearchReturn) (*SearchData, error) {
	return c.searchExtended(ctx, false, criteria, ret)
}

// UIDSearchExtended is SearchExtended with UIDs (UID SEARCH RETURN).
func (c *Client) UIDSearchExtended(ctx context.Context, criteria *SearchCriteria, ret SearchReturn) (*SearchData, error) {
	return c.searchExtended(ctx, true, criteria, ret)
}

func (c *Client) searchExtended(ctx context.Context, uid bool, criteria *SearchCriteria, ret SearchReturn) (*SearchData, error) {
	if !c.Has("ESEARCH") {
		return nil, &NotSupportedError{Capability: "ESEARCH"}
	}
	charset, err := c.searchCharset(criteria)
	if err != nil {
		return nil, err
	}
	var opts []string
	for _, o := range []struct {
		on   bool
		name string
	}{{ret.Min, "MIN"}, {ret.Max, "MAX"}, {ret.All, "ALL"}, {ret.Count, "COUNT"}} {
		if o.on {
			opts = append(opts, o.name)
		}
	}
	cmd := newCommand(searchUIDName(uid, "SEARCH"), "ESEARCH")
	data := &SearchData{UID: uid}
	var got *SearchData
	cmd.handle = func(u *untagged) error {
		d, err := searchReadESearch(u.dec)
		if err == nil {
			cmd.deliver(func() { got = d })
		}
		return err
	}
	_, err = c.execute(ctx, cmd, func(e *imapwire.Encoder) {
		searchWriteUID(e, uid)
		e.Atom("SEARCH").SP().Atom("RETURN").SP()
		e.List(len(opts), func(i int) { e.Atom(opts[i]) })
		searchWriteCriteria(e, charset, criteria)
	})
	if err != nil {
		return nil, err
	}
	if got != nil { // servers may leave out an ESEARCH that says nothing
		data = got
	}
	return data, nil
}

// readESearch reads ` [(TAG "t")] [UID] [name value]...` of an ESEARCH
// response.
func searchReadESearch(dec *imapwire.Decoder) (*SearchData, error) {
	d := &SearchData{}
	for dec.ReadSP() {
		if b, err := dec.PeekByte(); err != nil {
			return nil, err
		} else if b == '(' {
			if _, err := dec.ReadValue(); err != nil { // the search correlator
				return nil, err
			}
			continue
		} else if b == '\r' {
			break
		}
		name, err := dec.ReadAtom()
		if err != nil {
			return nil, err
		}
		name = strings.ToUpper(name)
		if name == "UID" {
			d.UID = true
			continue
		}
		if err := dec.ExpectSP(); err != nil {
			return nil, err
		}
		switch name {
		case "MIN":
			d.Min, err = dec.ReadNumber()
		case "MAX":
			d.Max, err = dec.ReadNumber()
		case "COUNT":
			d.Count, err = dec.ReadNumber()
		case "MODSEQ":
			d.ModSeq, err = dec.ReadNumber64()
		case "ALL":
			var set string
			if set, err = dec.ReadAtom(); err == nil {
				if d.All, err = ParseSeqSet(set); err != nil {
					err = &imapwire.ProtocolError{What: "ESEARCH ALL", Msg: err.Error()}
				}
			}
		default:
			_, err = dec.ReadValue() // an extension's result
		}
		if err != nil {
			return nil, err
		}
	}
	return d, nil
}
