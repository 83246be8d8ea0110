package imapclient

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"imapfs/imapclient/imapwire"
)

// readLoop reads every response of the connection, in order, and hands
// each to the command it belongs to or to Options.Updates. It runs until
// the connection ends.
func (c *Client) readLoop() {
	if err := c.readGreeting(); err != nil {
		c.fail(err)
		return
	}
	close(c.greeted)
	for {
		if err := c.readResponse(); err != nil {
			if bye := c.byeReceived(); bye != nil && errors.Is(err, io.EOF) {
				err = bye
			}
			c.fail(err)
			return
		}
	}
}

// readGreeting reads "* OK", "* PREAUTH" or "* BYE".
func (c *Client) readGreeting() error {
	if err := c.dec.Expect("response", "* "); err != nil {
		return err
	}
	typ, err := c.dec.ReadAtom()
	if err != nil {
		return err
	}
	typ = strings.ToUpper(typ)
	code, text, err := c.readRespText()
	if err != nil {
		return err
	}
	if code != nil && code.Name == imapwire.CodeCapability {
		c.setCaps(code.List)
	}
	switch typ {
	case "OK":
	case "PREAUTH":
		c.setState(StateAuthenticated)
	case "BYE":
		c.setBye(&ByeError{Code: code, Text: text})
	default:
		return fmt.Errorf("greeting %q is not OK, PREAUTH or BYE", typ)
	}
	return nil
}

// readRespText reads " [CODE] text" up to and including CRLF; the space is
// optional because some servers send "OK" alone.
func (c *Client) readRespText() (*imapwire.RespCode, string, error) {
	if !c.dec.ReadSP() {
		return nil, "", c.dec.ReadCRLF()
	}
	code, text, err := c.dec.ReadRespText()
	if err != nil {
		return nil, "", err
	}
	return code, text, c.dec.ReadCRLF()
}

// readResponse reads one whole response.
func (c *Client) readResponse() error {
	b, err := c.dec.PeekByte()
	if err != nil {
		return err
	}
	switch b {
	case '+':
		return c.readContinuation()
	case '*':
		return c.readUntagged()
	default:
		return c.readTagged()
	}
}

func (c *Client) readContinuation() error {
	if err := c.dec.Expect("continuation", "+"); err != nil {
		return err
	}
	text := ""
	if c.dec.ReadSP() {
		var err error
		if text, err = c.dec.ReadText(); err != nil {
			return err
		}
	}
	if err := c.dec.ReadCRLF(); err != nil {
		return err
	}
	c.mu.Lock()
	ch := c.continueCh
	c.continueCh = nil
	c.mu.Unlock()
	if ch == nil {
		// Nothing was sent that waits for it: a server's mistake that
		// leaves the stream in step.
		c.tr.note("ignoring a continuation no command waits for: " + text)
		return nil
	}
	ch <- continuation{text: text}
	return nil
}

func (c *Client) readTagged() error {
	tag, err := c.dec.ReadAtom()
	if err != nil {
		return err
	}
	if err := c.dec.ExpectSP(); err != nil {
		return err
	}
	typ, err := c.dec.ReadAtom()
	if err != nil {
		return err
	}
	typ = strings.ToUpper(typ)
	code, text, err := c.readRespText()
	if err != nil {
		return err
	}
	if typ != "OK" && typ != "NO" && typ != "BAD" {
		// Checked before the command leaves the pending list, so that the
		// connection's failure fails it too instead of leaving it waiting.
		return &imapwire.ProtocolError{What: "tagged response", Msg: fmt.Sprintf("status %q", typ)}
	}
	c.mu.Lock()
	var cmd *command
	for i, p := range c.pending {
		if p.tag == tag {
			cmd = p
			c.pending = slices.Delete(c.pending, i, i+1) // zeroes the slot freed: a done command holds its answers
			break
		}
	}
	c.mu.Unlock()
	if cmd == nil {
		return &imapwire.ProtocolError{What: "tagged response", Msg: fmt.Sprintf("unknown tag %q", tag)}
	}
	if code != nil && code.Name == imapwire.CodeCapability {
		c.setCaps(code.List)
	}
	switch typ {
	case "OK":
		if cmd.afterOK != nil {
			if err := cmd.afterOK(); err != nil {
				cmd.finish(nil, err)
				return err
			}
		}
		ok := &Status{Code: code, Text: text}
		if cmd.completed != nil {
			cmd.completed(ok, nil)
		}
		cmd.finish(ok, nil)
	default: // NO, BAD
		err := statusError(cmd, typ, code, text)
		if cmd.completed != nil {
			cmd.completed(nil, err)
		}
		cmd.finish(nil, err)
	}
	return nil
}

// readUntagged reads "* ..." and routes it.
func (c *Client) readUntagged() error {
	if err := c.dec.Expect("response", "* "); err != nil {
		return err
	}
	u := &c.untagged // no handler keeps it past its response
	*u = untagged{dec: c.dec}
	if b, err := c.dec.PeekByte(); err != nil {
		return err
	} else if b >= '0' && b <= '9' {
		if u.Num, err = c.dec.ReadNumber(); err != nil {
			return err
		}
		u.HasNum = true
		if err := c.dec.ExpectSP(); err != nil {
			return err
		}
	}
	name, err := c.dec.ReadAtom()
	if err != nil {
		return err
	}
	u.Name = strings.ToUpper(name)
	err = c.route(u)
	if isProtocolError(err) {
		// One malformed response does not put the connection out of step:
		// skip it, and fail the command it belonged to.
		c.tr.note("skipping malformed response: " + err.Error())
		if owner := c.owner(u.Name); owner != nil {
			owner.setDataErr(err)
		}
		return c.dec.DiscardLine()
	}
	return err
}

// isProtocolError: a response that could not be read, skipped without
// putting the connection out of step.
func isProtocolError(err error) bool {
	if err == nil {
		return false
	}
	var perr *imapwire.ProtocolError
	return errors.As(err, &perr)
}

// owner returns the oldest pending command that takes untagged responses
// called name.
func (c *Client) owner(name string) *command {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cmd := range c.pending {
		if cmd.takes(name) {
			return cmd
		}
	}
	return nil
}

// route handles one untagged response, up to and including its CRLF.
func (c *Client) route(u *untagged) error {
	switch {
	case u.HasNum && u.Name == "EXISTS":
		return c.mailboxUpdate(ExistsUpdate{N: u.Num})
	case u.HasNum && u.Name == "RECENT":
		return c.mailboxUpdate(RecentUpdate{N: u.Num})
	case u.HasNum && u.Name == "EXPUNGE":
		return c.mailboxUpdate(ExpungeUpdate{Seq: u.Num})
	case u.HasNum && u.Name == "FETCH":
		return c.readFetch(u.Num)
	case u.Name == "VANISHED":
		upd, err := readVanished(c.dec)
		if err != nil {
			return err
		}
		return c.mailboxUpdate(upd)
	case u.Name == "FLAGS":
		if err := c.dec.ExpectSP(); err != nil {
			return err
		}
		var flags []string
		if err := c.dec.ReadList(func() error { return appendFlag(&flags, c.dec) }); err != nil {
			return err
		}
		return c.mailboxUpdate(FlagsUpdate{Flags: flags})
	case u.Name == "CAPABILITY":
		caps, err := readAtomsToEOL(c.dec)
		if err != nil {
			return err
		}
		c.setCaps(caps)
		return c.dec.ReadCRLF()
	case u.Name == "ENABLED":
		exts, err := readAtomsToEOL(c.dec)
		if err != nil {
			return err
		}
		c.mu.Lock()
		for _, e := range exts {
			c.enabled[strings.ToUpper(e)] = true
		}
		c.mu.Unlock()
		return c.dec.ReadCRLF()
	case u.Name == "OK" || u.Name == "NO" || u.Name == "BAD" || u.Name == "BYE" || u.Name == "PREAUTH":
		return c.untaggedStatus(u.Name)
	}
	if u.Name == "ESEARCH" {
		return c.routeESearch(u)
	}
	if u.Name == "STATUS" {
		return c.routeStatus(u)
	}
	if cmd := c.owner(u.Name); cmd != nil && cmd.handle != nil {
		if err := cmd.handle(u); err != nil {
			return err
		}
		return c.dec.ReadCRLF()
	}
	c.tr.note("ignoring untagged " + u.Name)
	return c.dec.DiscardLine()
}

// routeESearch hands an ESEARCH response to the command its TAG
// correlator names (RFC 4731), or, without one, to the only search
// waiting for ESEARCH. Searches may be outstanding together thanks to
// that TAG: one without it while several wait fails them all rather than
// give one the other's result.
func (c *Client) routeESearch(u *untagged) error {
	tag, err := readSearchCorrelator(c.dec)
	if err != nil {
		return err
	}
	var takers []*command
	c.mu.Lock()
	for _, p := range c.pending {
		if p.takes(u.Name) && (tag == "" || p.tag == tag) {
			takers = append(takers, p)
		}
	}
	c.mu.Unlock()
	if len(takers) > 1 {
		for _, p := range takers {
			p.setDataErr(&imapwire.ProtocolError{What: "ESEARCH", Msg: "no TAG to tell pipelined searches apart"})
		}
		return c.dec.DiscardLine()
	}
	var cmd *command
	if len(takers) == 1 {
		cmd = takers[0]
	}
	if cmd == nil || cmd.handle == nil {
		c.tr.note("ignoring ESEARCH for no pending search")
		return c.dec.DiscardLine()
	}
	if err := cmd.handle(u); err != nil {
		var perr *imapwire.ProtocolError
		if errors.As(err, &perr) {
			cmd.setDataErr(err)
			return c.dec.DiscardLine()
		}
		return err
	}
	return c.dec.ReadCRLF()
}

// routeStatus hands a STATUS response to the STATUS command that asked
// about its mailbox, or else to the oldest LIST-STATUS pending: STATUS
// commands of different mailboxes may be outstanding together. One that
// cannot be read fails that command only, if there is one: a broken
// STATUS nobody asked for (NOTIFY may send them) is skipped, and one
// whose mailbox cannot be read leaves the STATUS that waited for it
// without its answer, which fails it.
func (c *Client) routeStatus(u *untagged) error {
	sd, err := statusRead(u.dec, c.Enabled("UTF8=ACCEPT"))
	if err != nil && !isProtocolError(err) {
		return err
	}
	var owner *command
	if sd != nil {
		owner = c.statusOwner(sd.Mailbox)
	}
	if err != nil {
		if owner == nil {
			c.tr.note("skipping a malformed STATUS no pending command asked for: " + err.Error())
		} else {
			c.tr.note("skipping malformed response: " + err.Error())
			owner.setDataErr(err)
		}
		return c.dec.DiscardLine()
	}
	if owner == nil {
		c.tr.note("ignoring STATUS of a mailbox no pending command asked about")
		return c.dec.ReadCRLF()
	}
	owner.deliver(func() { owner.statusData(sd) })
	return c.dec.ReadCRLF()
}

// statusOwner returns the command a STATUS response about mailbox
// answers: the STATUS of that mailbox, or else the oldest LIST-STATUS.
func (c *Client) statusOwner(mailbox string) *command {
	key := listKey(mailbox)
	var owner *command
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.pending {
		if p.statusData != nil && (p.statusFor == key || p.statusFor == "" && owner == nil) {
			owner = p
			if p.statusFor == key {
				break
			}
		}
	}
	return owner
}

// readSearchCorrelator reads ` (TAG "tag")` if it comes next, returning
// the tag, or "" without one.
func readSearchCorrelator(dec *imapwire.Decoder) (string, error) {
	if next, err := dec.Peek(2); err != nil || string(next) != " (" {
		return "", nil // err: the caller's next read meets it
	}
	dec.ReadSP()
	if err := dec.Expect("search correlator", "("); err != nil {
		return "", err
	}
	if name, err := dec.ReadAtom(); err != nil {
		return "", err
	} else if !strings.EqualFold(name, "TAG") {
		return "", &imapwire.ProtocolError{What: "search correlator", Msg: "not TAG: " + name}
	}
	if err := dec.ExpectSP(); err != nil {
		return "", err
	}
	tag, err := dec.ReadAString()
	if err != nil {
		return "", err
	}
	return tag, dec.Expect("search correlator", ")")
}

// untaggedStatus handles "* OK/NO/BAD/BYE [code] text".
func (c *Client) untaggedStatus(typ string) error {
	code, text, err := c.readRespText()
	if err != nil {
		return err
	}
	if typ == "BYE" {
		bye := &ByeError{Code: code, Text: text}
		c.setBye(bye)
		c.notify(ByeUpdate{Bye: bye})
		return nil
	}
	if code != nil {
		switch code.Name {
		case imapwire.CodeCapability:
			c.setCaps(code.List)
		default:
			c.mu.Lock()
			if c.mailbox != nil {
				c.mailbox.applyCode(code)
			}
			c.mu.Unlock()
		}
	}
	upd := StatusUpdate{Type: typ, Code: code, Text: text}
	c.mu.Lock()
	var watcher *command
	for _, cmd := range c.pending {
		if cmd.onStatus != nil {
			watcher = cmd
			break
		}
	}
	c.mu.Unlock()
	if watcher != nil {
		watcher.deliver(func() { watcher.onStatus(upd) })
	}
	c.notify(upd)
	return nil
}

// mailboxUpdate applies a change of the selected mailbox, lets a running
// EXPUNGE-like command see it, and passes it on to Options.Updates.
func (c *Client) mailboxUpdate(upd Update) error {
	if err := c.dec.ReadCRLF(); err != nil {
		return err
	}
	c.mu.Lock()
	if c.mailbox != nil {
		c.mailbox.apply(upd)
	}
	var watchers []*command
	for _, cmd := range c.pending {
		if cmd.onExpunge != nil {
			watchers = append(watchers, cmd)
		}
	}
	c.mu.Unlock()
	// At most one command that sees expunges is pending (conflictsWith);
	// VANISHED (EARLIER) answers a UID FETCH, not an expunge.
	switch u := upd.(type) {
	case ExpungeUpdate:
	case VanishedUpdate:
		if u.Earlier {
			watchers = nil
		}
	default:
		watchers = nil
	}
	for _, cmd := range watchers {
		cmd.deliver(func() { cmd.onExpunge(upd) })
	}
	c.notify(upd)
	return nil
}

func (c *Client) notify(upd Update) {
	c.keepResponse(upd)
	if c.opts.Updates != nil {
		c.opts.Updates(upd)
	}
}

// readAtomsToEOL reads " atom atom ..." up to (not including) CRLF.
func readAtomsToEOL(dec *imapwire.Decoder) ([]string, error) {
	var atoms []string
	for dec.ReadSP() {
		if b, err := dec.PeekByte(); err != nil {
			return nil, err
		} else if b == '\r' {
			break // a trailing space, which some servers send
		}
		a, err := dec.ReadAtom()
		if err != nil {
			return nil, err
		}
		atoms = append(atoms, a)
	}
	return atoms, nil
}

func appendFlag(flags *[]string, dec *imapwire.Decoder) error {
	f, err := dec.ReadFlag()
	if err != nil {
		return err
	}
	*flags = append(*flags, CanonicalFlag(f))
	return nil
}

// readVanished reads " [(EARLIER) ]uid-set".
func readVanished(dec *imapwire.Decoder) (Update, error) {
	var upd VanishedUpdate
	if err := dec.ExpectSP(); err != nil {
		return nil, err
	}
	if b, err := dec.PeekByte(); err != nil {
		return nil, err
	} else if b == '(' {
		err := dec.ReadList(func() error {
			a, err := dec.ReadAtom()
			if strings.EqualFold(a, "EARLIER") {
				upd.Earlier = true
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		if err := dec.ExpectSP(); err != nil {
			return nil, err
		}
	}
	set, err := dec.ReadAtom()
	if err != nil {
		return nil, err
	}
	if upd.UIDs, err = ParseSeqSet(set); err != nil {
		return nil, &imapwire.ProtocolError{What: "VANISHED", Msg: err.Error()}
	}
	return upd, nil
}
