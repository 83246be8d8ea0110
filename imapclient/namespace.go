package imapclient

import (
	"context"
	"strings"

	"imapfs/imapclient/imapwire"
)

// Namespace is one namespace of RFC 2342: the prefix of its mailbox names
// and their hierarchy delimiter ("" for none).
type Namespace struct {
	Prefix    string // UTF-8, e.g. "INBOX." or "shared/"
	Delimiter string
	// Extensions holds namespace response extensions (RFC 2342 5), by
	// name in capitals, e.g. TRANSLATION (RFC 5255).
	Extensions map[string][]string
}

// Namespaces is the NAMESPACE response: the user's own mailboxes, other
// users' and shared ones. A kind the server does not have is empty.
type Namespaces struct {
	Personal   []Namespace
	OtherUsers []Namespace
	Shared     []Namespace
}

// Namespace asks where the server keeps the user's, other users' and
// shared mailboxes (imaplib's namespace; RFC 2342).
func (c *Client) Namespace(ctx context.Context) (*Namespaces, error) {
	if !c.Has("NAMESPACE") {
		return nil, &NotSupportedError{Capability: "NAMESPACE"}
	}
	utf8 := c.Enabled("UTF8=ACCEPT")
	var ns *Namespaces
	cmd := newCommand("NAMESPACE", "NAMESPACE")
	cmd.handle = func(u *untagged) error {
		got := &Namespaces{}
		for _, kind := range []*[]Namespace{&got.Personal, &got.OtherUsers, &got.Shared} {
			if err := u.dec.ExpectSP(); err != nil {
				return err
			}
			list, err := namespaceReadKind(u.dec, utf8)
			if err != nil {
				return err
			}
			*kind = list
		}
		cmd.deliver(func() { ns = got })
		return nil
	}
	if _, err := c.execute(ctx, cmd, func(e *imapwire.Encoder) { e.Atom("NAMESPACE") }); err != nil {
		return nil, err
	}
	if ns == nil {
		return nil, &imapwire.ProtocolError{What: "NAMESPACE", Msg: "no NAMESPACE response"}
	}
	return ns, nil
}

// namespaceReadKind reads NIL or "((prefix delim ext...) ...)".
func namespaceReadKind(dec *imapwire.Decoder, utf8 bool) ([]Namespace, error) {
	v, err := dec.ReadValue()
	if err != nil {
		return nil, err
	}
	if v.Kind == imapwire.KindNIL {
		return nil, nil
	}
	bad := &imapwire.ProtocolError{What: "NAMESPACE", Msg: "namespace is not (prefix delimiter ...)"}
	if v.Kind != imapwire.KindList {
		return nil, bad
	}
	var list []Namespace
	for _, desc := range v.List {
		if desc.Kind != imapwire.KindList || len(desc.List) < 2 || desc.List[0].Kind != imapwire.KindString ||
			(desc.List[1].Kind != imapwire.KindString && desc.List[1].Kind != imapwire.KindNIL) {
			return nil, bad
		}
		ns := Namespace{Prefix: listDecodeName(desc.List[0].Text, utf8), Delimiter: desc.List[1].Text}
		ext := desc.List[2:]
		for ; len(ext) >= 2; ext = ext[2:] {
			if ext[1].Kind != imapwire.KindList {
				return nil, bad
			}
			if ns.Extensions == nil {
				ns.Extensions = map[string][]string{}
			}
			name := strings.ToUpper(ext[0].Text)
			for _, val := range ext[1].List {
				ns.Extensions[name] = append(ns.Extensions[name], val.Text)
			}
		}
		if len(ext) != 0 {
			return nil, bad
		}
		list = append(list, ns)
	}
	return list, nil
}
