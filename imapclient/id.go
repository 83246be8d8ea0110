package imapclient

import (
	"context"
	"slices"

	"imapfs/imapclient/imapwire"
)

// ID limits of RFC 2971 3.3.
const (
	idMaxFields     = 30
	idMaxFieldName  = 30
	idMaxFieldValue = 1024
)

// ID tells the server who the client is and returns what the server says
// of itself (RFC 2971), e.g. {"name": "Dovecot"}. A nil fields map sends
// NIL. Field values the server sends as NIL are "" in the result; a server
// that says nothing of itself gives a nil map.
func (c *Client) ID(ctx context.Context, fields map[string]string) (map[string]string, error) {
	if !c.Has("ID") {
		return nil, &NotSupportedError{Capability: "ID"}
	}
	keys := make([]string, 0, len(fields))
	for k, v := range fields {
		if len(k) > idMaxFieldName || len(v) > idMaxFieldValue {
			return nil, &imapwire.ArgumentError{What: "ID field", Value: k, Reason: "longer than RFC 2971 allows"}
		}
		keys = append(keys, k)
	}
	if len(keys) > idMaxFields {
		return nil, &imapwire.ArgumentError{What: "ID", Reason: "more than 30 fields"}
	}
	slices.Sort(keys) // the same command every time, for traces and tests
	var server map[string]string
	cmd := newCommand("ID", "ID")
	cmd.handle = func(u *untagged) error {
		if err := u.dec.ExpectSP(); err != nil {
			return err
		}
		v, err := u.dec.ReadValue()
		if err != nil {
			return err
		}
		got, err := idParams(v)
		if err != nil {
			return err
		}
		cmd.deliver(func() { server = got })
		return nil
	}
	_, err := c.execute(ctx, cmd, func(e *imapwire.Encoder) {
		e.Atom("ID").SP()
		if fields == nil {
			e.NString(nil)
			return
		}
		e.BeginList()
		for i, k := range keys {
			if i > 0 {
				e.SP()
			}
			v := fields[k]
			e.String(k).SP().NString(&v)
		}
		e.EndList()
	})
	if err != nil {
		return nil, err
	}
	return server, nil
}

// idParams reads NIL or "(field value ...)".
func idParams(v imapwire.Value) (map[string]string, error) {
	if v.Kind == imapwire.KindNIL {
		return nil, nil
	}
	bad := &imapwire.ProtocolError{What: "ID", Msg: "not NIL or a list of field/value pairs"}
	if v.Kind != imapwire.KindList || len(v.List)%2 != 0 {
		return nil, bad
	}
	params := map[string]string{}
	for i := 0; i < len(v.List); i += 2 {
		k, val := v.List[i], v.List[i+1]
		if k.Kind != imapwire.KindString || (val.Kind != imapwire.KindString && val.Kind != imapwire.KindNIL) {
			return nil, bad
		}
		params[k.Text] = val.Text
	}
	return params, nil
}
