package imapclient

import (
	"context"
	"strings"

	"imapfs/imapclient/imapwire"
)

// Mailbox name attributes (RFC 3501 7.2.2, RFC 3348 CHILDREN, RFC 5258
// LIST-EXTENDED, RFC 6154 SPECIAL-USE), as servers spell them.
const (
	AttrNoInferiors   = `\Noinferiors`
	AttrNoSelect      = `\Noselect`
	AttrMarked        = `\Marked`
	AttrUnmarked      = `\Unmarked`
	AttrHasChildren   = `\HasChildren`
	AttrHasNoChildren = `\HasNoChildren`
	AttrNonExistent   = `\NonExistent`
	AttrSubscribed    = `\Subscribed`
	AttrRemote        = `\Remote`
	AttrAll           = `\All`
	AttrArchive       = `\Archive`
	AttrDrafts        = `\Drafts`
	AttrFlagged       = `\Flagged`
	AttrJunk          = `\Junk`
	AttrSent          = `\Sent`
	AttrTrash         = `\Trash`
)

// MailboxInfo is one LIST or LSUB response.
type MailboxInfo struct {
	// Name is the mailbox name in UTF-8, decoded from modified UTF-7 (or
	// sent as UTF-8 once UTF8=ACCEPT is enabled). A name that is not valid
	// modified UTF-7, which only a broken server or a foreign tool can
	// have made, is kept as the server sent it.
	Name string
	// Delimiter is the hierarchy delimiter, "" when the server sent NIL
	// (a flat name space).
	Delimiter string
	// Attributes are the name attributes as sent (see the Attr constants);
	// compare them with HasAttr, which ignores case as RFC 3501 says.
	Attributes []string
	// ChildInfo holds the CHILDINFO extended item (RFC 5258 RECURSIVEMATCH):
	// the selection criteria ("SUBSCRIBED") that some child matches.
	ChildInfo []string
	// OldName is the OLDNAME extended item (RFC 5465): the name the
	// mailbox had before a RENAME, in UTF-8.
	OldName string
	// Extended holds other extended data items, by tag in capitals.
	Extended map[string]imapwire.Value
	// Status is the LIST-STATUS answer (RFC 5819), when asked for and sent.
	Status *StatusData
}

// HasAttr reports whether the mailbox has a name attribute, e.g.
// AttrNoSelect, compared without case.
func (m *MailboxInfo) HasAttr(attr string) bool {
	for _, a := range m.Attributes {
		if strings.EqualFold(a, attr) {
			return true
		}
	}
	return false
}

// ListOptions are the LIST-EXTENDED (RFC 5258) selection and return
// options; the zero value asks for a plain LIST.
type ListOptions struct {
	// Selection options.
	SelectSubscribed bool // only subscribed names (SUBSCRIBED)
	SelectRemote     bool // also remote mailboxes (REMOTE)
	// SelectRecursiveMatch (RECURSIVEMATCH) also lists parents of matching
	// mailboxes, with CHILDINFO; it needs another selection option.
	SelectRecursiveMatch bool
	SelectSpecialUse     bool // only special-use mailboxes (RFC 6154)

	// Return options.
	ReturnChildren   bool // \HasChildren / \HasNoChildren
	ReturnSubscribed bool // \Subscribed
	ReturnSpecialUse bool // \Sent, \Trash, ... (RFC 6154)
	// ReturnStatus asks for STATUS items (Status* constants) of every
	// selectable mailbox listed (LIST-STATUS, RFC 5819).
	ReturnStatus []string
}

func (o *ListOptions) selection() []string {
	var sel []string
	for _, opt := range []struct {
		on   bool
		name string
	}{
		{o.SelectSubscribed, "SUBSCRIBED"},
		{o.SelectRemote, "REMOTE"},
		{o.SelectRecursiveMatch, "RECURSIVEMATCH"},
		{o.SelectSpecialUse, "SPECIAL-USE"},
	} {
		if opt.on {
			sel = append(sel, opt.name)
		}
	}
	return sel
}

// returns lists the return options other than STATUS.
func (o *ListOptions) returns() []string {
	var ret []string
	if o.ReturnChildren {
		ret = append(ret, "CHILDREN")
	}
	if o.ReturnSubscribed {
		ret = append(ret, "SUBSCRIBED")
	}
	if o.ReturnSpecialUse {
		ret = append(ret, "SPECIAL-USE")
	}
	return ret
}

// List lists the mailboxes matching pattern below reference (imaplib's
// list; RFC 3501 6.3.8). In patterns "*" matches anything, "%" anything
// but the hierarchy delimiter. List("", "") returns only the delimiter
// and root of reference's hierarchy.
func (c *Client) List(ctx context.Context, reference, pattern string) ([]*MailboxInfo, error) {
	return c.listRun(ctx, "LIST", reference, []string{pattern}, nil)
}

// Lsub lists the subscribed mailboxes matching pattern (imaplib's lsub;
// RFC 3501 6.3.9). A \Noselect answer here means a parent that is not
// itself subscribed.
func (c *Client) Lsub(ctx context.Context, reference, pattern string) ([]*MailboxInfo, error) {
	return c.listRun(ctx, "LSUB", reference, []string{pattern}, nil)
}

// ListExtended is LIST with several patterns and the options of RFC 5258
// (LIST-EXTENDED), RFC 6154 (SPECIAL-USE) and RFC 5819 (LIST-STATUS).
// Options the server does not announce are refused with a
// NotSupportedError before anything is sent.
func (c *Client) ListExtended(ctx context.Context, reference string, patterns []string, opts ListOptions) ([]*MailboxInfo, error) {
	if err := c.listCheckOptions(patterns, &opts); err != nil {
		return nil, err
	}
	return c.listRun(ctx, "LIST", reference, patterns, &opts)
}

func (c *Client) listCheckOptions(patterns []string, opts *ListOptions) error {
	sel, ret := opts.selection(), opts.returns()
	if len(patterns) == 0 {
		return &imapwire.ArgumentError{What: "LIST patterns", Reason: "none given"}
	}
	extended := len(patterns) > 1 || len(sel) > 0 || len(ret) > 0 || len(opts.ReturnStatus) > 0
	if extended && !c.Has("LIST-EXTENDED") {
		return &NotSupportedError{Capability: "LIST-EXTENDED"}
	}
	if (opts.SelectSpecialUse || opts.ReturnSpecialUse) && !c.Has("SPECIAL-USE") {
		return &NotSupportedError{Capability: "SPECIAL-USE"}
	}
	if opts.SelectRecursiveMatch && len(sel) == 1 {
		// RFC 5258 3.1: on its own it is a syntax error.
		return &imapwire.ArgumentError{What: "LIST selection", Value: "RECURSIVEMATCH", Reason: "needs another selection option"}
	}
	if len(opts.ReturnStatus) > 0 {
		if !c.Has("LIST-STATUS") {
			return &NotSupportedError{Capability: "LIST-STATUS"}
		}
		return c.statusCheckItems(opts.ReturnStatus)
	}
	return nil
}

// listRun sends LIST or LSUB and collects the answers in the server's
// order, with the STATUS answers of LIST-STATUS attached.
func (c *Client) listRun(ctx context.Context, name, reference string, patterns []string, opts *ListOptions) ([]*MailboxInfo, error) {
	utf8 := c.Enabled("UTF8=ACCEPT")
	var found []*MailboxInfo
	byName := map[string]*MailboxInfo{} // only the reader goroutine uses it
	accepts := []string{name}
	if opts != nil && len(opts.ReturnStatus) > 0 {
		accepts = append(accepts, "STATUS")
	}
	cmd := newCommand(name, accepts...)
	if len(accepts) > 1 {
		cmd.statusData = func(sd *StatusData) {
			if m := byName[listKey(sd.Mailbox)]; m != nil {
				m.Status = sd
			}
		}
	}
	cmd.handle = func(u *untagged) error {
		m, err := listRead(u.dec, utf8)
		if err != nil {
			return err
		}
		byName[listKey(m.Name)] = m
		cmd.deliver(func() { found = append(found, m) })
		return nil
	}
	_, err := c.execute(ctx, cmd, func(e *imapwire.Encoder) {
		e.Atom(name).SP()
		if opts != nil {
			if sel := opts.selection(); len(sel) > 0 {
				e.List(len(sel), func(i int) { e.Atom(sel[i]) }).SP()
			}
		}
		e.Mailbox(reference).SP()
		if len(patterns) == 1 {
			e.Mailbox(patterns[0])
		} else {
			e.List(len(patterns), func(i int) { e.Mailbox(patterns[i]) })
		}
		if opts == nil {
			return
		}
		ret := opts.returns()
		if len(ret) == 0 && len(opts.ReturnStatus) == 0 {
			return
		}
		e.SP().Atom("RETURN").SP().BeginList()
		for i, r := range ret {
			if i > 0 {
				e.SP()
			}
			e.Atom(r)
		}
		if len(opts.ReturnStatus) > 0 {
			if len(ret) > 0 {
				e.SP()
			}
			e.Atom("STATUS").SP()
			e.List(len(opts.ReturnStatus), func(i int) { e.Atom(opts.ReturnStatus[i]) })
		}
		e.EndList()
	})
	if err != nil {
		return nil, err
	}
	return found, nil
}

// listKey is how LIST-STATUS answers find their mailbox: INBOX is INBOX
// in any case.
func listKey(name string) string {
	if strings.EqualFold(name, "INBOX") {
		return "INBOX"
	}
	return name
}

// listDecodeName turns a mailbox name from the wire into UTF-8.
func listDecodeName(name string, utf8 bool) string {
	if utf8 {
		return name
	}
	if decoded, err := DecodeMailboxName(name); err == nil {
		return decoded
	}
	return name
}

// listRead reads " (attributes) delimiter name [(extended items)]".
func listRead(dec *imapwire.Decoder, utf8 bool) (*MailboxInfo, error) {
	m := &MailboxInfo{Attributes: []string{}}
	if err := dec.ExpectSP(); err != nil {
		return nil, err
	}
	err := dec.ReadList(func() error { return listAppendRead(&m.Attributes, dec.ReadFlag) })
	if err != nil {
		return nil, err
	}
	if err := dec.ExpectSP(); err != nil {
		return nil, err
	}
	delim, err := dec.ReadNString()
	if err != nil {
		return nil, err
	}
	if delim != nil {
		m.Delimiter = *delim
	}
	if err := dec.ExpectSP(); err != nil {
		return nil, err
	}
	name, err := dec.ReadAString()
	if err != nil {
		return nil, err
	}
	m.Name = listDecodeName(name, utf8)
	if dec.ReadSP() {
		if err := dec.ReadList(func() error { return listReadExtended(dec, m, utf8) }); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// listReadExtended reads one "tag value" extended data item (RFC 5258
// mbox-list-extended-item).
func listReadExtended(dec *imapwire.Decoder, m *MailboxInfo, utf8 bool) error {
	tag, err := dec.ReadAString()
	if err != nil {
		return err
	}
	tag = strings.ToUpper(tag)
	if err := dec.ExpectSP(); err != nil {
		return err
	}
	v, err := dec.ReadValue()
	if err != nil {
		return err
	}
	switch {
	case tag == "CHILDINFO" && v.Kind == imapwire.KindList:
		for _, opt := range v.List {
			m.ChildInfo = append(m.ChildInfo, strings.ToUpper(opt.Text))
		}
	case tag == "OLDNAME" && v.Kind == imapwire.KindList && len(v.List) == 1:
		m.OldName = listDecodeName(v.List[0].Text, utf8)
	default:
		if m.Extended == nil {
			m.Extended = map[string]imapwire.Value{}
		}
		m.Extended[tag] = v
	}
	return nil
}

func listAppendRead(list *[]string, read func() (string, error)) error {
	s, err := read()
	if err == nil {
		*list = append(*list, s)
	}
	return err
}
