package imapclient

import (
	"context"
	"fmt"
	"strings"

	"imapfs/imapclient/imapwire"
)

// STATUS data items (RFC 3501 6.3.10, RFC 7162 HIGHESTMODSEQ, RFC 8438
// SIZE, RFC 7889 APPENDLIMIT).
const (
	StatusMessages      = "MESSAGES"
	StatusRecent        = "RECENT"
	StatusUIDNext       = "UIDNEXT"
	StatusUIDValidity   = "UIDVALIDITY"
	StatusUnseen        = "UNSEEN"
	StatusHighestModSeq = "HIGHESTMODSEQ" // needs CONDSTORE
	StatusSize          = "SIZE"          // needs STATUS=SIZE
	StatusAppendLimit   = "APPENDLIMIT"   // needs APPENDLIMIT
)

// StatusData is a STATUS response: the counters of one mailbox. Only the
// items the server sent are set; Has tells which.
type StatusData struct {
	Mailbox       string // UTF-8
	Messages      uint32
	Recent        uint32
	UIDNext       uint32
	UIDValidity   uint32
	Unseen        uint32 // the number of messages without \Seen
	HighestModSeq uint64
	Size          int64 // total RFC822.SIZE of the messages
	// AppendLimit is the largest message APPEND takes; 0 with Has(
	// StatusAppendLimit) means the server set no limit (it sent NIL).
	AppendLimit uint64
	// Items holds the items this package does not know, unparsed.
	Items map[string]imapwire.Value
	has   map[string]bool
}

// Has reports whether the server sent an item, by its name in capitals
// (StatusMessages, ...).
func (s *StatusData) Has(item string) bool { return s.has[item] }

// Status asks for counters of a mailbox without selecting it (imaplib's
// status; RFC 3501 6.3.10). Items are the Status* constants; the ones that
// need an extension are refused with a NotSupportedError when the server
// does not announce it.
func (c *Client) Status(ctx context.Context, mailbox string, items ...string) (*StatusData, error) {
	if err := c.statusCheckItems(items); err != nil {
		return nil, err
	}
	var data *StatusData
	// Only the answer about our mailbox is ours (see routeStatus): other
	// STATUS commands may be outstanding, and NOTIFY (RFC 5465) may send
	// others at any time.
	cmd := newCommand("STATUS", "STATUS")
	cmd.statusFor = listKey(mailbox)
	cmd.statusData = func(sd *StatusData) { data = sd }
	_, err := c.execute(ctx, cmd, func(e *imapwire.Encoder) {
		e.Atom("STATUS").SP().Mailbox(mailbox).SP()
		e.List(len(items), func(i int) { e.Atom(items[i]) })
	})
	if err != nil {
		return nil, err
	}
	if data == nil {
		return nil, &imapwire.ProtocolError{What: "STATUS", Msg: fmt.Sprintf("no STATUS response for %q", mailbox)}
	}
	return data, nil
}

// statusCheckItems refuses the items whose extension the server lacks,
// before anything is sent.
func (c *Client) statusCheckItems(items []string) error {
	caps := c.Capabilities()
	for _, item := range items {
		switch strings.ToUpper(item) {
		case StatusHighestModSeq:
			if !caps.Has("CONDSTORE") {
				return &NotSupportedError{Capability: "CONDSTORE"}
			}
		case StatusSize:
			if !caps.Has("STATUS=SIZE") {
				return &NotSupportedError{Capability: "STATUS=SIZE"}
			}
		case StatusAppendLimit:
			// RFC 7889 announces it as APPENDLIMIT or APPENDLIMIT=n.
			if !caps.Has("APPENDLIMIT") && !statusHasCapPrefix(caps, "APPENDLIMIT=") {
				return &NotSupportedError{Capability: "APPENDLIMIT"}
			}
		}
	}
	return nil
}

func statusHasCapPrefix(caps Capabilities, prefix string) bool {
	for name := range caps {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// statusRead reads " mailbox (item value ...)" of a STATUS response. A
// response that cannot be read past its mailbox's name comes back with
// the error and the name alone, which says whose answer it was.
func statusRead(dec *imapwire.Decoder, utf8 bool) (*StatusData, error) {
	if err := dec.ExpectSP(); err != nil {
		return nil, err
	}
	name, err := dec.ReadAString()
	if err != nil {
		return nil, err
	}
	sd := &StatusData{Mailbox: listDecodeName(name, utf8), has: map[string]bool{}}
	if err := dec.ExpectSP(); err != nil {
		return &StatusData{Mailbox: sd.Mailbox}, err
	}
	err = dec.ReadList(func() error {
		item, err := dec.ReadAtom()
		if err != nil {
			return err
		}
		item = strings.ToUpper(item)
		if err := dec.ExpectSP(); err != nil {
			return err
		}
		return statusReadItem(dec, sd, item)
	})
	if err != nil {
		return &StatusData{Mailbox: sd.Mailbox}, err
	}
	return sd, nil
}

func statusReadItem(dec *imapwire.Decoder, sd *StatusData, item string) error {
	var n32 *uint32
	switch item {
	case StatusMessages:
		n32 = &sd.Messages
	case StatusRecent:
		n32 = &sd.Recent
	case StatusUIDNext:
		n32 = &sd.UIDNext
	case StatusUIDValidity:
		n32 = &sd.UIDValidity
	case StatusUnseen:
		n32 = &sd.Unseen
	}
	var err error
	switch {
	case n32 != nil:
		*n32, err = dec.ReadNumber()
	case item == StatusHighestModSeq:
		sd.HighestModSeq, err = dec.ReadNumber64()
	case item == StatusSize:
		var n uint64
		n, err = dec.ReadNumber64()
		sd.Size = int64(n)
	case item == StatusAppendLimit:
		var v imapwire.Value
		if v, err = dec.ReadValue(); err == nil {
			switch v.Kind {
			case imapwire.KindNumber:
				sd.AppendLimit = v.Number
			case imapwire.KindNIL:
			default:
				err = &imapwire.ProtocolError{What: "STATUS APPENDLIMIT", Msg: "neither a number nor NIL"}
			}
		}
	default:
		var v imapwire.Value
		if v, err = dec.ReadValue(); err == nil {
			if sd.Items == nil {
				sd.Items = map[string]imapwire.Value{}
			}
			sd.Items[item] = v
		}
	}
	if err == nil {
		sd.has[item] = true
	}
	return err
}
