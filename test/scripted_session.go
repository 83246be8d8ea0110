package test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Serve speaks IMAP on one connection of the Scripted server until the
// client logs out or the connection ends.
func (s *Scripted) Serve(r io.Reader, w io.Writer) {
	s.mu.Lock()
	s.sessions++
	id := s.sessions
	s.mu.Unlock()
	ss := &scriptedSession{s: s, v: s.V, id: id, r: bufio.NewReader(r), w: bufio.NewWriter(w)}
	ss.run()
}

// record adds a line to the server's transcript, literals' bytes left out.
func (ss *scriptedSession) record(dir, text string) {
	var b strings.Builder
	for {
		i := strings.Index(text, "}\r\n")
		j := strings.LastIndexByte(text[:max(i, 0)], '{')
		n, err := 0, error(nil)
		if i >= 0 && j >= 0 {
			n, err = strconv.Atoi(strings.TrimSuffix(text[j+1:i], "+"))
		}
		if i < 0 || j < 0 || err != nil || i+3+n > len(text) {
			b.WriteString(text)
			break
		}
		b.WriteString(text[:i+1] + "...")
		text = text[i+3+n:]
	}
	ss.s.transcriptMu.Lock()
	defer ss.s.transcriptMu.Unlock()
	fmt.Fprintf(&ss.s.transcript, "%d %s: %s\n", ss.id, dir, strings.TrimRight(b.String(), "\r\n"))
}

// scriptedSession is one connection's state.
type scriptedSession struct {
	s      *Scripted
	v      Variation
	r      *bufio.Reader
	w      *bufio.Writer
	authed bool
	sel    *scriptedSelection // nil: nothing selected
	tag    string             // of the command being run
	id     int                // in the transcript
	rev2   bool               // IMAP4rev2 rules: the server has only them, or they were enabled
	done   bool
}

// scriptedSelection is the selected mailbox as this session has been told
// of it: its message sequence numbers are positions in uids.
type scriptedSelection struct {
	name     string
	readOnly bool
	uids     []uint32
}

// errBad is a command the server does not accept: BAD.
type errBad string

func (e errBad) Error() string { return string(e) }

// errNo is a command that failed: NO, with an optional code.
type errNo string

func (e errNo) Error() string { return string(e) }

const scriptedDate = "02-Jan-2006 15:04:05 -0700"

func (ss *scriptedSession) run() {
	greeting := ss.v.Greeting
	if greeting == "" {
		greeting = "* " + ss.word("OK") + " [" + ss.word("CAPABILITY") + " " + strings.Join(ss.s.capabilities(), " ") + "] Scripted IMAP ready."
	}
	ss.authed = strings.HasPrefix(strings.ToUpper(greeting), "* PREAUTH")
	ss.rev2 = ss.s.rev2Only()
	ss.line("%s", greeting)
	ss.w.Flush()
	for !ss.done {
		tag, args, err := ss.readCommand()
		if err != nil {
			if bad, ok := err.(errBad); ok && tag != "" {
				ss.line("%s %s %s", tag, ss.word("BAD"), bad)
				ss.w.Flush()
				continue
			}
			return
		}
		if !ss.handleLocked(tag, args) {
			return
		}
		if err := ss.w.Flush(); err != nil {
			return
		}
	}
}

// handleLocked runs handle with the server's lock. A panic (a bug of the
// server's) ends the connection and is noted in the transcript, instead
// of ending the test binary.
func (ss *scriptedSession) handleLocked(tag string, args []scriptedToken) (ok bool) {
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			ss.record("!", fmt.Sprintf("scripted server panic: %v", r))
			ok = false
		}
	}()
	ss.handle(tag, args)
	return true
}

// word is a response name, status word or code as the Variation writes it.
func (ss *scriptedSession) word(w string) string {
	if ss.v.LowerCase {
		return strings.ToLower(w)
	}
	return w
}

func (ss *scriptedSession) line(format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	ss.record("S", text)
	ss.w.WriteString(text + "\r\n")
}

func (ss *scriptedSession) untagged(format string, args ...any) {
	ss.line("* "+format, args...)
}

// handle runs one command with the server's lock held.
func (ss *scriptedSession) handle(tag string, args []scriptedToken) {
	name := strings.ToUpper(args[0].s)
	uid := false
	if name == "UID" && len(args) > 1 {
		uid = true
		args = args[1:]
		name = strings.ToUpper(args[0].s)
	}
	ss.s.commands = append(ss.s.commands, commandText(uid, args))
	code, err := ss.dispatch(name, uid, args[1:])
	if name == "COPY" && err == nil && ss.v.DropAfterCopy {
		ss.record("!", "connection closed after the COPY, unanswered")
		ss.done = true
		return
	}
	if ss.v.Chatter {
		ss.untagged(ss.word("OK") + " [XSCRIPTED-NOTE 1 (a b)] Unknown code with arguments.")
		ss.untagged("XSCRIPTED-CHATTER 17 (\"x\" y) z")
	}
	var bad errBad
	var no errNo
	switch {
	case errors.As(err, &bad):
		ss.line("%s %s %s", tag, ss.word("BAD"), bad)
	case errors.As(err, &no):
		ss.line("%s %s %s", tag, ss.word("NO"), no)
	case err != nil:
		ss.line("%s %s %v", tag, ss.word("NO"), err)
	default:
		if code == "" && ss.v.Chatter {
			code = "XSCRIPTED-DONE 42 \"arg\""
		}
		if code != "" {
			code = "[" + code + "] "
		}
		text := name + " completed."
		if ss.v.Chatter {
			text = "  " + name + "   completed,  spaced   out. "
		}
		ss.line("%s %s %s%s", tag, ss.word("OK"), code, text)
	}
}

// commandText is how Commands shows a command: tag and passwords left out.
func commandText(uid bool, args []scriptedToken) string {
	if strings.EqualFold(args[0].s, "LOGIN") {
		return "LOGIN"
	}
	var parts []string
	if uid {
		parts = append(parts, "UID")
	}
	for _, a := range args {
		parts = append(parts, a.String())
	}
	return strings.Join(parts, " ")
}

// dispatch runs a command and returns the code of its tagged OK.
func (ss *scriptedSession) dispatch(name string, uid bool, args []scriptedToken) (code string, err error) {
	switch name {
	case "CAPABILITY":
		ss.untagged("%s %s", ss.word("CAPABILITY"), strings.Join(ss.s.capabilities(), " "))
		return "", nil
	case "NOOP", "CHECK":
		ss.sync(true)
		return "", nil
	case "LOGOUT":
		ss.untagged("%s Logging out", ss.word("BYE"))
		ss.done = true
		return "", nil
	}
	if !ss.authed {
		if name != "LOGIN" {
			return "", errBad("Log in first")
		}
		if len(args) != 2 || args[0].s != ss.s.User.Name || args[1].s != ss.s.User.Password {
			return "", errNo("[AUTHENTICATIONFAILED] Wrong user or password")
		}
		ss.authed = true
		if ss.v.LoginWithoutCapability {
			return "", nil
		}
		return ss.word("CAPABILITY") + " " + strings.Join(ss.s.capabilities(), " "), nil
	}
	switch name {
	case "ENABLE":
		return ss.enable(args)
	case "NAMESPACE":
		if !ss.s.has("NAMESPACE") {
			return "", errBad("Unknown command")
		}
		ss.untagged(`%s (("" "/")) NIL NIL`, ss.word("NAMESPACE"))
		return "", nil
	case "LIST":
		return ss.list(args)
	case "CREATE":
		return ss.create(args)
	case "DELETE":
		return ss.delete(args)
	case "RENAME":
		return ss.rename(args)
	case "STATUS":
		return ss.status(args)
	case "APPEND":
		return ss.appendMessage(args)
	case "SELECT", "EXAMINE":
		return ss.selectMailbox(args, name == "EXAMINE")
	}
	if ss.sel == nil {
		return "", errBad("No mailbox selected")
	}
	box := ss.s.boxes[ss.sel.name]
	if box == nil {
		return "", errNo("Mailbox is gone")
	}
	switch name {
	case "UNSELECT", "CLOSE":
		if name == "UNSELECT" && !ss.s.has("UNSELECT") {
			return "", errBad("Unknown command")
		}
		if name == "CLOSE" && !ss.sel.readOnly {
			box.msgs = slices.DeleteFunc(box.msgs, func(m *scriptedMsg) bool { return slices.Contains(m.flags, `\Deleted`) })
		}
		ss.sel = nil
		return "", nil
	case "FETCH":
		return ss.fetch(box, uid, args)
	case "STORE":
		return ss.store(box, uid, args)
	case "SEARCH":
		return ss.search(box, uid, args)
	case "EXPUNGE":
		return ss.expunge(box, uid, args)
	case "COPY", "MOVE":
		return ss.copyMessages(box, uid, name == "MOVE", args)
	}
	return "", errBad("Unknown command")
}

func (ss *scriptedSession) enable(args []scriptedToken) (string, error) {
	if !ss.s.has("ENABLE") {
		return "", errBad("Unknown command")
	}
	var on []string
	for _, a := range args {
		if strings.EqualFold(a.s, "IMAP4rev2") && ss.s.has("IMAP4rev2") {
			ss.rev2 = true
			on = append(on, a.s)
		}
	}
	ss.untagged("%s %s", ss.word("ENABLED"), strings.Join(on, " "))
	return "", nil
}

// mailboxArg is a mailbox name argument; INBOX in any case is INBOX.
func mailboxArg(t scriptedToken) string {
	if strings.EqualFold(t.s, "INBOX") {
		return "INBOX"
	}
	return strings.TrimSuffix(t.s, "/")
}

func (ss *scriptedSession) list(args []scriptedToken) (string, error) {
	if len(args) != 2 || args[0].kind == '(' || args[1].kind == '(' {
		return "", errBad("Only LIST reference pattern")
	}
	pattern := args[0].s + args[1].s
	if pattern == "" {
		ss.untagged(`%s (\Noselect) "/" ""`, ss.word("LIST"))
		return "", nil
	}
	for _, name := range ss.s.namesLocked() {
		if listMatch(pattern, name) {
			ss.untagged(`%s () "/" %s`, ss.word("LIST"), quote(name))
		}
	}
	return "", nil
}

// listMatch matches a LIST pattern: * matches anything, % anything but
// the delimiter.
func listMatch(pattern, name string) bool {
	if pattern == "" {
		return name == ""
	}
	switch pattern[0] {
	case '*', '%':
		for i := 0; i <= len(name); i++ {
			if listMatch(pattern[1:], name[i:]) {
				return true
			}
			if i < len(name) && pattern[0] == '%' && name[i] == '/' {
				return false
			}
		}
		return false
	}
	if name == "" || pattern[0] != name[0] {
		return false
	}
	return listMatch(pattern[1:], name[1:])
}

func (ss *scriptedSession) create(args []scriptedToken) (string, error) {
	if len(args) != 1 {
		return "", errBad("CREATE name")
	}
	name := mailboxArg(args[0])
	if ss.s.boxes[name] != nil {
		return "", errNo("[ALREADYEXISTS] Mailbox exists")
	}
	ss.s.createLocked(name)
	return "", nil
}

func (ss *scriptedSession) delete(args []scriptedToken) (string, error) {
	if len(args) != 1 {
		return "", errBad("DELETE name")
	}
	name := mailboxArg(args[0])
	switch {
	case ss.s.boxes[name] == nil:
		return "", errNo("[NONEXISTENT] No such mailbox")
	case name == "INBOX":
		return "", errNo("Cannot delete INBOX")
	case ss.v.RefuseDeleteSelected && ss.sel != nil && ss.sel.name == name:
		return "", errNo("Cannot delete currently-open folder")
	}
	delete(ss.s.boxes, name)
	return "", nil
}

func (ss *scriptedSession) rename(args []scriptedToken) (string, error) {
	if len(args) != 2 {
		return "", errBad("RENAME from to")
	}
	from, to := mailboxArg(args[0]), mailboxArg(args[1])
	if ss.s.boxes[from] == nil {
		return "", errNo("[NONEXISTENT] No such mailbox")
	}
	if ss.s.boxes[to] != nil {
		return "", errNo("[ALREADYEXISTS] Target exists")
	}
	for _, name := range ss.s.namesLocked() {
		// Renaming INBOX moves its messages only (RFC 3501 6.3.5).
		if name == from || from != "INBOX" && strings.HasPrefix(name, from+"/") {
			ss.s.boxes[to+strings.TrimPrefix(name, from)] = ss.s.boxes[name]
			delete(ss.s.boxes, name)
		}
	}
	if from == "INBOX" {
		ss.s.createLocked("INBOX")
	}
	return "", nil
}

func (ss *scriptedSession) status(args []scriptedToken) (string, error) {
	if len(args) != 2 || args[1].kind != '(' {
		return "", errBad("STATUS name (items)")
	}
	name := mailboxArg(args[0])
	box := ss.s.boxes[name]
	if box == nil {
		return "", errNo("[NONEXISTENT] No such mailbox")
	}
	var out []string
	for _, it := range args[1].list {
		var n int
		switch item := strings.ToUpper(it.s); item {
		case "MESSAGES":
			n = len(box.msgs)
		case "UIDNEXT":
			n = int(box.uidNext)
		case "UIDVALIDITY":
			n = int(box.uidValidity)
		case "UNSEEN":
			for _, m := range box.msgs {
				if !slices.Contains(m.flags, `\Seen`) {
					n++
				}
			}
		case "RECENT":
			if ss.rev2 {
				return "", errBad("No RECENT in IMAP4rev2")
			}
		default:
			return "", errBad("Unknown STATUS item " + it.s)
		}
		out = append(out, fmt.Sprintf("%s %d", ss.word(strings.ToUpper(it.s)), n))
	}
	ss.untagged("%s %s (%s)", ss.word("STATUS"), quote(name), strings.Join(out, " "))
	return "", nil
}

func (ss *scriptedSession) appendMessage(args []scriptedToken) (string, error) {
	if len(args) < 2 {
		return "", errBad("APPEND name [flags] [date] message")
	}
	box := ss.s.boxes[mailboxArg(args[0])]
	var flags []string
	date := time.Now()
	rest := args[1:]
	if rest[0].kind == '(' {
		for _, f := range rest[0].list {
			flags = append(flags, f.s)
		}
		rest = rest[1:]
	}
	if len(rest) == 2 {
		d, err := time.Parse("_2-Jan-2006 15:04:05 -0700", rest[0].s)
		if err != nil {
			return "", errBad("Bad date")
		}
		date = d
		rest = rest[1:]
	}
	if len(rest) != 1 || rest[0].kind != 's' {
		return "", errBad("APPEND takes one message")
	}
	if box == nil {
		return "", errNo("[TRYCREATE] No such mailbox")
	}
	uid := box.add([]byte(rest[0].s), flags, date)
	ss.sync(true)
	if ss.s.V.BrokenAppendUID {
		return fmt.Sprintf("%s %d x%d", ss.word("APPENDUID"), box.uidValidity, uid), nil
	}
	if ss.s.has("UIDPLUS") {
		return fmt.Sprintf("%s %d %d", ss.word("APPENDUID"), box.uidValidity, uid), nil
	}
	return "", nil
}

func (ss *scriptedSession) selectMailbox(args []scriptedToken, readOnly bool) (string, error) {
	if len(args) != 1 {
		return "", errBad("SELECT name")
	}
	ss.sel = nil // a failed SELECT leaves nothing selected
	name := mailboxArg(args[0])
	box := ss.s.boxes[name]
	if box == nil {
		return "", errNo("[NONEXISTENT] No such mailbox")
	}
	ss.sel = &scriptedSelection{name: name, readOnly: readOnly}
	for _, m := range box.msgs {
		ss.sel.uids = append(ss.sel.uids, m.uid)
	}
	flags := append([]string{`\Answered`, `\Flagged`, `\Deleted`, `\Seen`, `\Draft`}, ss.v.Keywords...)
	ss.untagged("%s (%s)", ss.word("FLAGS"), strings.Join(flags, " "))
	ss.untagged("%s [%s (%s \\*)] Flags permitted.", ss.word("OK"), ss.word("PERMANENTFLAGS"), strings.Join(flags, " "))
	ss.untagged("%d %s", len(box.msgs), ss.word("EXISTS"))
	if !ss.rev2 {
		ss.untagged("0 %s", ss.word("RECENT"))
	} else {
		ss.untagged(`%s () "/" %s`, ss.word("LIST"), quote(name))
	}
	ss.untagged("%s [%s %d] UIDs valid", ss.word("OK"), ss.word("UIDVALIDITY"), box.uidValidity)
	ss.untagged("%s [%s %d] Predicted next UID", ss.word("OK"), ss.word("UIDNEXT"), box.uidNext)
	if readOnly {
		return ss.word("READ-ONLY"), nil
	}
	return ss.word("READ-WRITE"), nil
}

// sync tells the session of messages expunged (when allowed: never during
// FETCH, STORE or SEARCH by sequence number) and of new ones.
func (ss *scriptedSession) sync(expunges bool) {
	if ss.sel == nil {
		return
	}
	box := ss.s.boxes[ss.sel.name]
	if box == nil {
		return
	}
	if expunges {
		for i := len(ss.sel.uids) - 1; i >= 0; i-- {
			if box.byUID(ss.sel.uids[i]) == nil {
				ss.untagged("%d %s", i+1, ss.word("EXPUNGE"))
				ss.sel.uids = slices.Delete(ss.sel.uids, i, i+1)
			}
		}
	}
	last := uint32(0)
	if n := len(ss.sel.uids); n > 0 {
		last = ss.sel.uids[n-1]
	}
	grown := false
	for _, m := range box.msgs {
		if m.uid > last {
			ss.sel.uids = append(ss.sel.uids, m.uid)
			grown = true
		}
	}
	if grown {
		ss.untagged("%d %s", len(ss.sel.uids), ss.word("EXISTS"))
	}
}

// selected returns the messages a sequence set names, in the session's
// view, with their sequence numbers.
func (ss *scriptedSession) selected(box *scriptedBox, uid bool, set string) ([]int, error) {
	uids := ss.sel.uids
	var max uint32
	if uid {
		if n := len(uids); n > 0 {
			max = uids[n-1]
		}
	} else {
		max = uint32(len(uids))
	}
	var seqs []int
	for _, r := range strings.Split(set, ",") {
		lo, hi, ok := strings.Cut(r, ":")
		a, err := seqNumber(lo, max)
		if err != nil {
			return nil, err
		}
		b := a
		if ok {
			if b, err = seqNumber(hi, max); err != nil {
				return nil, err
			}
		}
		if a > b {
			a, b = b, a
		}
		for i, u := range uids {
			n := uint32(i + 1)
			if uid {
				n = u
			}
			if n >= a && n <= b && !slices.Contains(seqs, i+1) && box.byUID(u) != nil {
				seqs = append(seqs, i+1)
			}
		}
	}
	slices.Sort(seqs)
	return seqs, nil
}

func seqNumber(s string, max uint32) (uint32, error) {
	if s == "*" {
		return max, nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 {
		return 0, errBad("Bad sequence set")
	}
	return uint32(n), nil
}

// fetchItem is one data item of a FETCH response.
type fetchItem struct{ name, value string }

func (ss *scriptedSession) fetch(box *scriptedBox, uid bool, args []scriptedToken) (string, error) {
	if len(args) != 2 {
		return "", errBad("FETCH set items")
	}
	if uid {
		ss.sync(true)
	}
	seqs, err := ss.selected(box, uid, args[0].s)
	if err != nil {
		return "", err
	}
	var names []string
	if args[1].kind == '(' {
		for _, it := range args[1].list {
			names = append(names, it.s)
		}
	} else if strings.EqualFold(args[1].s, "FAST") {
		names = []string{"FLAGS", "INTERNALDATE", "RFC822.SIZE"}
	} else {
		names = []string{args[1].s}
	}
	if uid && !slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, "UID") }) {
		names = append([]string{"UID"}, names...)
	}
	for _, seq := range seqs {
		m := box.byUID(ss.sel.uids[seq-1])
		var items []fetchItem
		for _, n := range names {
			it, err := ss.fetchItem(m, n)
			if err != nil {
				return "", err
			}
			items = append(items, it)
		}
		items = ss.reorder(items)
		var parts []string
		for _, it := range items {
			parts = append(parts, ss.word(it.name)+" "+it.value)
		}
		ss.untagged("%d %s (%s)", seq, ss.word("FETCH"), strings.Join(parts, " "))
	}
	return "", nil
}

func (ss *scriptedSession) fetchItem(m *scriptedMsg, name string) (fetchItem, error) {
	switch upper := strings.ToUpper(name); upper {
	case "UID":
		return fetchItem{"UID", strconv.FormatUint(uint64(m.uid), 10)}, nil
	case "FLAGS":
		return fetchItem{"FLAGS", "(" + strings.Join(m.flags, " ") + ")"}, nil
	case "RFC822.SIZE":
		return fetchItem{"RFC822.SIZE", strconv.Itoa(len(m.body) + ss.v.RFC822SizeSurplus)}, nil
	case "INTERNALDATE":
		return fetchItem{"INTERNALDATE", `"` + m.date.Format(scriptedDate) + `"`}, nil
	case "RFC822", "RFC822.HEADER", "RFC822.TEXT":
		section := map[string]string{"RFC822": "", "RFC822.HEADER": "HEADER", "RFC822.TEXT": "TEXT"}[upper]
		return fetchItem{upper, literal(bodySection(m.body, section))}, nil
	}
	// BODY[section]<origin.count> and BODY.PEEK[...]
	upper := strings.ToUpper(name)
	peek := strings.HasPrefix(upper, "BODY.PEEK[")
	if !peek && !strings.HasPrefix(upper, "BODY[") {
		return fetchItem{}, errBad("Unsupported FETCH item " + name)
	}
	rest := upper[strings.Index(upper, "[")+1:]
	section, partial, ok := strings.Cut(rest, "]")
	if !ok || (section != "" && section != "HEADER" && section != "TEXT") {
		return fetchItem{}, errBad("Unsupported section " + name)
	}
	data := bodySection(m.body, section)
	label := "BODY[" + section + "]"
	if partial != "" {
		var origin, count int
		if _, err := fmt.Sscanf(partial, "<%d.%d>", &origin, &count); err != nil {
			return fetchItem{}, errBad("Bad partial " + partial)
		}
		label += fmt.Sprintf("<%d>", origin)
		data = data[min(origin, len(data)):]
		data = data[:min(count, len(data))]
	}
	if !peek && !slices.Contains(m.flags, `\Seen`) {
		m.flags = normalFlags(append(m.flags, `\Seen`))
	}
	return fetchItem{label, literal(data)}, nil
}

// reorder puts FETCH items in the order the Variation says.
func (ss *scriptedSession) reorder(items []fetchItem) []fetchItem {
	moveLast := func(name string) {
		i := slices.IndexFunc(items, func(it fetchItem) bool { return it.name == name })
		if i >= 0 {
			it := items[i]
			items = append(slices.Delete(items, i, i+1), it)
		}
	}
	switch ss.v.FetchOrder {
	case "uid-last":
		moveLast("UID")
	case "flags-last":
		moveLast("FLAGS")
	case "reverse":
		slices.Reverse(items)
	}
	return items
}

func bodySection(body []byte, section string) []byte {
	i := bytes.Index(body, []byte("\r\n\r\n"))
	switch {
	case section == "":
		return body
	case i < 0 && section == "HEADER":
		return body
	case i < 0:
		return nil
	case section == "HEADER":
		return body[:i+4]
	}
	return body[i+4:]
}

func literal(b []byte) string { return fmt.Sprintf("{%d}\r\n%s", len(b), b) }

func (ss *scriptedSession) store(box *scriptedBox, uid bool, args []scriptedToken) (string, error) {
	if len(args) != 3 {
		return "", errBad("STORE set op flags")
	}
	if ss.sel.readOnly {
		return "", errNo("Mailbox is read-only")
	}
	seqs, err := ss.selected(box, uid, args[0].s)
	if err != nil {
		return "", err
	}
	op := strings.ToUpper(args[1].s)
	silent := strings.HasSuffix(op, ".SILENT")
	op = strings.TrimSuffix(op, ".SILENT")
	var flags []string
	for _, f := range args[2].list {
		flags = append(flags, f.s)
	}
	if args[2].kind != '(' {
		flags = []string{args[2].s}
	}
	for _, seq := range seqs {
		m := box.byUID(ss.sel.uids[seq-1])
		switch op {
		case "FLAGS":
			m.flags = normalFlags(flags)
		case "+FLAGS":
			m.flags = normalFlags(append(m.flags, flags...))
		case "-FLAGS":
			m.flags = slices.DeleteFunc(m.flags, func(f string) bool {
				return slices.ContainsFunc(flags, func(g string) bool { return sameFlag(f, g) })
			})
		default:
			return "", errBad("Bad STORE operation")
		}
		if !silent {
			items := []fetchItem{{"FLAGS", "(" + strings.Join(m.flags, " ") + ")"}}
			if uid {
				items = append([]fetchItem{{"UID", strconv.FormatUint(uint64(m.uid), 10)}}, items...)
			}
			var parts []string
			for _, it := range ss.reorder(items) {
				parts = append(parts, ss.word(it.name)+" "+it.value)
			}
			ss.untagged("%d %s (%s)", seq, ss.word("FETCH"), strings.Join(parts, " "))
		}
	}
	return "", nil
}

func (ss *scriptedSession) search(box *scriptedBox, uid bool, args []scriptedToken) (string, error) {
	if uid {
		ss.sync(true)
	}
	var ret []string
	extended := ss.rev2
	if len(args) > 1 && strings.EqualFold(args[0].s, "RETURN") && args[1].kind == '(' {
		if !ss.s.has("ESEARCH") {
			return "", errBad("No ESEARCH")
		}
		extended = true
		for _, r := range args[1].list {
			ret = append(ret, strings.ToUpper(r.s))
		}
		args = args[2:]
	}
	if len(args) > 1 && strings.EqualFold(args[0].s, "CHARSET") {
		args = args[2:]
	}
	all := make([]int, len(ss.sel.uids))
	for i := range all {
		all[i] = i + 1
	}
	hits := all
	for i := 0; i < len(args); i++ {
		var keep []int
		switch key := strings.ToUpper(args[i].s); {
		case key == "ALL":
			keep = all
		case key == "DELETED" || key == "UNDELETED":
			for _, seq := range all {
				deleted := slices.Contains(box.byUID(ss.sel.uids[seq-1]).flags, `\Deleted`)
				if deleted == (key == "DELETED") {
					keep = append(keep, seq)
				}
			}
		case (key == "LARGER" || key == "SMALLER") && i+1 < len(args):
			i++
			n, err := strconv.Atoi(args[i].s)
			if err != nil {
				return "", errBad("Bad size")
			}
			for _, seq := range all {
				size := len(box.byUID(ss.sel.uids[seq-1]).body)
				if key == "LARGER" && size > n || key == "SMALLER" && size < n {
					keep = append(keep, seq)
				}
			}
		case (key == "SINCE" || key == "BEFORE") && i+1 < len(args):
			i++
			day, err := time.Parse("_2-Jan-2006", args[i].s)
			if err != nil {
				return "", errBad("Bad date")
			}
			for _, seq := range all {
				d := box.byUID(ss.sel.uids[seq-1]).date
				date := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
				if key == "SINCE" && !date.Before(day) || key == "BEFORE" && date.Before(day) {
					keep = append(keep, seq)
				}
			}
		case key == "HEADER" && i+2 < len(args):
			field, value := strings.ToLower(args[i+1].s), strings.ToLower(args[i+2].s)
			i += 2
			for _, seq := range all {
				for _, line := range strings.Split(string(bodySection(box.byUID(ss.sel.uids[seq-1]).body, "HEADER")), "\r\n") {
					name, v, ok := strings.Cut(line, ":")
					if ok && strings.ToLower(name) == field && strings.Contains(strings.ToLower(v), value) {
						keep = append(keep, seq)
						break
					}
				}
			}
		case key == "UID" && i+1 < len(args):
			i++
			seqs, err := ss.selected(box, true, args[i].s)
			if err != nil {
				return "", err
			}
			keep = seqs
		default:
			seqs, err := ss.selected(box, false, args[i].s)
			if err != nil {
				return "", errBad("Unsupported search key " + args[i].s)
			}
			keep = seqs
		}
		hits = slices.DeleteFunc(slices.Clone(hits), func(seq int) bool { return !slices.Contains(keep, seq) })
	}
	var numbers []uint32
	for _, seq := range hits {
		if uid {
			numbers = append(numbers, ss.sel.uids[seq-1])
		} else {
			numbers = append(numbers, uint32(seq))
		}
	}
	if !extended {
		var parts []string
		for _, n := range numbers {
			parts = append(parts, " "+strconv.FormatUint(uint64(n), 10))
		}
		ss.untagged("%s%s", ss.word("SEARCH"), strings.Join(parts, ""))
		return "", nil
	}
	return "", ss.esearch(uid, numbers, ret)
}

// esearch answers with ESEARCH (RFC 4731; an IMAP4rev2 server's only
// answer to SEARCH), naming the command's tag.
func (ss *scriptedSession) esearch(uid bool, numbers []uint32, ret []string) error {
	if len(ret) == 0 {
		ret = []string{"ALL"}
	}
	out := fmt.Sprintf("%s (%s %s)", ss.word("ESEARCH"), ss.word("TAG"), quote(ss.tag))
	if uid {
		out += " " + ss.word("UID")
	}
	for _, r := range ret {
		switch {
		case r == "ALL" && len(numbers) > 0:
			out += " " + ss.word("ALL") + " " + compactSet(numbers)
		case r == "COUNT":
			out += fmt.Sprintf(" %s %d", ss.word("COUNT"), len(numbers))
		case r == "MIN" && len(numbers) > 0:
			out += fmt.Sprintf(" %s %d", ss.word("MIN"), numbers[0])
		case r == "MAX" && len(numbers) > 0:
			out += fmt.Sprintf(" %s %d", ss.word("MAX"), numbers[len(numbers)-1])
		}
	}
	ss.untagged("%s", out)
	return nil
}

// compactSet writes sorted numbers as a sequence set: 1:3,5.
func compactSet(numbers []uint32) string {
	var parts []string
	for i := 0; i < len(numbers); {
		j := i
		for j+1 < len(numbers) && numbers[j+1] == numbers[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d:%d", numbers[i], numbers[j]))
		} else {
			parts = append(parts, strconv.FormatUint(uint64(numbers[i]), 10))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

func (ss *scriptedSession) expunge(box *scriptedBox, uid bool, args []scriptedToken) (string, error) {
	if ss.sel.readOnly {
		return "", errNo("Mailbox is read-only")
	}
	var only []int
	if uid {
		if !ss.s.has("UIDPLUS") {
			return "", errBad("Unknown command")
		}
		if len(args) != 1 {
			return "", errBad("UID EXPUNGE set")
		}
		if ss.v.RefuseUIDExpunge {
			return "", errNo("[SERVERBUG] Expunge failed")
		}
		seqs, err := ss.selected(box, true, args[0].s)
		if err != nil {
			return "", err
		}
		only = seqs
	}
	var gone []uint32
	for i, u := range ss.sel.uids {
		m := box.byUID(u)
		if m != nil && slices.Contains(m.flags, `\Deleted`) && (!uid || slices.Contains(only, i+1)) {
			gone = append(gone, u)
		}
	}
	for _, u := range gone {
		box.remove(u)
	}
	ss.sync(true)
	return "", nil
}

func (ss *scriptedSession) copyMessages(box *scriptedBox, uid, move bool, args []scriptedToken) (string, error) {
	if move && !ss.s.has("MOVE") {
		return "", errBad("Unknown command")
	}
	if len(args) != 2 {
		return "", errBad("COPY set mailbox")
	}
	seqs, err := ss.selected(box, uid, args[0].s)
	if err != nil {
		return "", err
	}
	dest := ss.s.boxes[mailboxArg(args[1])]
	if dest == nil {
		return "", errNo("[TRYCREATE] No such mailbox")
	}
	var from, to []uint32
	for _, seq := range seqs {
		m := box.byUID(ss.sel.uids[seq-1])
		from = append(from, m.uid)
		to = append(to, dest.add(m.body, slices.DeleteFunc(slices.Clone(m.flags), func(f string) bool { return f == `\Deleted` && move }), m.date))
	}
	code := ""
	if ss.s.has("UIDPLUS") && len(from) > 0 {
		code = fmt.Sprintf("%s %d %s %s", ss.word("COPYUID"), dest.uidValidity, compactSet(from), compactSet(to))
	}
	if move {
		if code != "" {
			ss.untagged("%s [%s] Moved.", ss.word("OK"), code)
			code = ""
		}
		for _, u := range from {
			box.remove(u)
		}
		ss.sync(true)
	}
	return code, nil
}

// scriptedToken is a parsed command argument: an atom (kind 'a', which
// includes NIL, numbers, sequence sets and BODY[...]<...>), a string
// (kind 's', quoted or literal) or a parenthesized list (kind '(').
type scriptedToken struct {
	kind byte
	s    string
	list []scriptedToken
}

func (t scriptedToken) String() string {
	switch t.kind {
	case 's':
		if strings.ContainsAny(t.s, "\r\n") || len(t.s) > 100 {
			return fmt.Sprintf("{%d}", len(t.s))
		}
		return quote(t.s)
	case '(':
		var parts []string
		for _, e := range t.list {
			parts = append(parts, e.String())
		}
		return "(" + strings.Join(parts, " ") + ")"
	}
	return t.s
}

// readCommand reads one command with its literals (answering a
// synchronizing literal with a continuation) and splits it into its tag
// and arguments.
func (ss *scriptedSession) readCommand() (tag string, args []scriptedToken, err error) {
	var buf []byte
	var unannounced bool // a non-synchronizing literal the server does not accept
	for {
		line, err := ss.r.ReadBytes('\n')
		if err != nil {
			return "", nil, err
		}
		buf = append(buf, line...)
		n, sync, ok := trailingLiteral(line)
		if !ok {
			break
		}
		if n > scriptedMaxLiteral {
			return "", nil, errors.New("literal too large")
		}
		switch {
		case sync:
			ss.line("+ Ready for literal data")
			ss.w.Flush()
		case !ss.s.has("LITERAL+") && !(ss.s.has("LITERAL-") && n <= 4096):
			unannounced = true
		}
		lit := make([]byte, n)
		if _, err := io.ReadFull(ss.r, lit); err != nil {
			return "", nil, err
		}
		buf = append(buf, lit...)
	}
	if f := strings.Fields(string(buf)); len(f) > 1 && strings.EqualFold(f[1], "LOGIN") {
		ss.record("C", f[0]+" LOGIN <redacted>")
	} else {
		ss.record("C", string(buf))
	}
	p := &scriptedParser{b: buf}
	tag = p.atom()
	if tag == "" || !p.sp() {
		return "", nil, errBad("Missing tag")
	}
	if unannounced {
		return tag, nil, errBad("Non-synchronizing literal without LITERAL+")
	}
	args, err = p.list(false)
	if err != nil || len(args) == 0 || args[0].kind != 'a' {
		return tag, nil, errBad(fmt.Sprintf("Cannot parse the command (%v)", err))
	}
	ss.tag = tag
	return tag, args, nil
}

// scriptedMaxLiteral bounds the literals the server reads.
const scriptedMaxLiteral = 64 << 20

// trailingLiteral finds "{n}" or "{n+}" at the end of a line.
func trailingLiteral(line []byte) (n int, sync, ok bool) {
	s := strings.TrimRight(string(line), "\r\n")
	if !strings.HasSuffix(s, "}") {
		return 0, false, false
	}
	i := strings.LastIndexByte(s, '{')
	if i < 0 {
		return 0, false, false
	}
	num := s[i+1 : len(s)-1]
	sync = !strings.HasSuffix(num, "+")
	n, err := strconv.Atoi(strings.TrimSuffix(num, "+"))
	return n, sync, err == nil && n >= 0
}

type scriptedParser struct {
	b []byte
	i int
}

func (p *scriptedParser) sp() bool {
	if p.i < len(p.b) && p.b[p.i] == ' ' {
		p.i++
		return true
	}
	return false
}

// list reads tokens up to the end of the line, or to ")" when nested.
func (p *scriptedParser) list(nested bool) ([]scriptedToken, error) {
	var out []scriptedToken
	for {
		if p.i >= len(p.b) {
			return nil, errors.New("unexpected end")
		}
		switch c := p.b[p.i]; {
		case c == '\r' || c == '\n':
			if nested {
				return nil, errors.New("unclosed list")
			}
			return out, nil
		case c == ')':
			if !nested {
				return nil, errors.New("unexpected )")
			}
			p.i++
			return out, nil
		case c == ' ':
			p.i++
		case c == '(':
			p.i++
			l, err := p.list(true)
			if err != nil {
				return nil, err
			}
			out = append(out, scriptedToken{kind: '(', list: l})
		case c == '"':
			s, err := p.quoted()
			if err != nil {
				return nil, err
			}
			out = append(out, scriptedToken{kind: 's', s: s})
		case c == '{':
			end := bytes.IndexByte(p.b[p.i:], '\n')
			if end < 0 {
				return nil, errors.New("bad literal")
			}
			n, _, ok := trailingLiteral(p.b[p.i : p.i+end+1])
			if !ok || p.i+end+1+n > len(p.b) {
				return nil, errors.New("bad literal")
			}
			start := p.i + end + 1
			out = append(out, scriptedToken{kind: 's', s: string(p.b[start : start+n])})
			p.i = start + n
		default:
			out = append(out, scriptedToken{kind: 'a', s: p.atom()})
		}
	}
}

func (p *scriptedParser) quoted() (string, error) {
	p.i++
	var b strings.Builder
	for p.i < len(p.b) {
		c := p.b[p.i]
		p.i++
		switch c {
		case '"':
			return b.String(), nil
		case '\\':
			if p.i < len(p.b) {
				b.WriteByte(p.b[p.i])
				p.i++
			}
		case '\r', '\n':
			return "", errors.New("unterminated string")
		default:
			b.WriteByte(c)
		}
	}
	return "", errors.New("unterminated string")
}

// atom reads up to a space, parenthesis or line end; a "[...]" inside it
// (BODY[HEADER.FIELDS (A B)]) is read whole.
func (p *scriptedParser) atom() string {
	start := p.i
	depth := 0
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c == '[' {
			depth++
		} else if c == ']' && depth > 0 {
			depth--
		} else if depth == 0 && (c == ' ' || c == '(' || c == ')' || c == '\r' || c == '\n') {
			break
		}
		p.i++
	}
	return string(p.b[start:p.i])
}
