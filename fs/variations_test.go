package fs_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"imapfs/test"
)

// without is the scripted server's default capabilities less some.
func without(caps ...string) []string {
	return slices.DeleteFunc(slices.Clone(test.DefaultScriptedCapabilities), func(c string) bool { return slices.Contains(caps, c) })
}

// variations are what RFC 3501 and RFC 9051 allow a server to do and
// Dovecot and Cyrus never do; each row's name says what.
var variations = []struct {
	name string
	v    test.Variation
	// mount gives the flags (and SERVER) to mount with; nil: imaps://.
	mount func(t *testing.T, s *test.Scripted) []string
	// noUIDPlus: rm cannot remove exactly one message (EOPNOTSUPP).
	noUIDPlus bool
}{
	{name: "rev1 without CONDSTORE QRESYNC SPECIAL-USE LIST-EXTENDED NAMESPACE"},
	{name: "FETCH items in any order: UID after the body", v: test.Variation{FetchOrder: "uid-last"}},
	{name: "FETCH items in any order: reversed", v: test.Variation{FetchOrder: "reverse"}},
	{name: "FETCH items in any order: FLAGS last", v: test.Variation{FetchOrder: "flags-last"}},
	{name: "greeting OK without CAPABILITY code", v: test.Variation{Greeting: "* OK ready"}},
	{name: "greeting OK without CAPABILITY code, plaintext", v: test.Variation{Greeting: "* OK ready"},
		mount: func(t *testing.T, s *test.Scripted) []string { return []string{"--plaintext", s.URL(false)} }},
	{name: "greeting OK with an unknown code with arguments", v: test.Variation{Greeting: "* OK [UNKNOWNCODE x y] ready"}},
	{name: "LOGIN OK without CAPABILITY code", v: test.Variation{LoginWithoutCapability: true}},
	{name: "greeting OK without CAPABILITY, LOGIN OK without CAPABILITY", v: test.Variation{Greeting: "* OK ready", LoginWithoutCapability: true}},
	{name: "greeting PREAUTH over a tunnel", v: test.Variation{Greeting: "* PREAUTH Ready."},
		mount: func(t *testing.T, s *test.Scripted) []string {
			return []string{"--tunnel", s.TunnelCommand(t), s.URL(false)}
		}},
	{name: "greeting PREAUTH with CAPABILITY code over a tunnel", v: test.Variation{Greeting: "* PREAUTH [CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS MOVE UNSELECT ENABLE] Ready."},
		mount: func(t *testing.T, s *test.Scripted) []string {
			return []string{"--tunnel", s.TunnelCommand(t), s.URL(false)}
		}},
	{name: "no UNSELECT", v: test.Variation{Capabilities: without("UNSELECT")}},
	{name: "no UNSELECT and no DELETE of the selected mailbox", v: test.Variation{Capabilities: without("UNSELECT"), RefuseDeleteSelected: true}},
	{name: "no UIDPLUS", v: test.Variation{Capabilities: without("UIDPLUS")}, noUIDPlus: true},
	{name: "no MOVE", v: test.Variation{Capabilities: without("MOVE")}},
	{name: "no LITERAL+", v: test.Variation{Capabilities: without("LITERAL+")}},
	{name: "no ENABLE", v: test.Variation{Capabilities: without("ENABLE")}},
	{name: "IMAP4rev1 and nothing else", v: test.Variation{Capabilities: []string{"IMAP4rev1"}, RefuseDeleteSelected: true}, noUIDPlus: true},
	{name: "IMAP4rev2 only, SEARCH answered with ESEARCH", v: test.Variation{Capabilities: []string{"IMAP4rev2"}}},
	{name: "IMAP4rev1 and IMAP4rev2, ESEARCH after ENABLE IMAP4rev2", v: test.Variation{Capabilities: slices.Concat(test.DefaultScriptedCapabilities, []string{"IMAP4rev2"})}},
	{name: "lower-case response names, status words and FETCH items", v: test.Variation{LowerCase: true}},
	{name: "unknown untagged responses and response codes with arguments", v: test.Variation{Chatter: true}},
	{name: "keywords with odd atom characters", v: test.Variation{
		Keywords: []string{"$Label1", "Junk.Mail", "a[b", "x&y", "~1", "semi;colon", "'q'", "#hash", "a+b=c", "@at", "`tick`", "p|q", "<ang>", "!bang", "?q", "a/b", "1234"}}},
	{name: "lower case, chatter, odd keywords and FETCH reversed at once", v: test.Variation{
		LowerCase: true, Chatter: true, FetchOrder: "reverse", Keywords: []string{"a[b", "x&y"}}},
}

// TestVariations mounts imapfs on the scripted server of each variation
// and drives it with real tools: ls -l sizes, cat and a partial dd read
// give the server's bytes, rm removes exactly one message, the listing
// follows another client's expunge, rmdir deletes only an empty mailbox,
// mkdir, mv and cp in work. What happened is checked in the scripted
// server's own state.
func TestVariations(t *testing.T) {
	t.Parallel() // scripted servers of its own; mostly waiting
	test.RequireFUSE(t)
	for _, row := range variations {
		t.Run(row.name, func(t *testing.T) {
			s := test.StartScripted(t, row.v)
			var flags []string
			if row.mount != nil {
				flags = row.mount(t, s)
			}
			exerciseScripted(t, s, row.noUIDPlus, flags...)
		})
	}
}

// scriptedMessages are messages of several sizes, the last larger than a
// partial read's offset.
func scriptedMessages(n int) []test.Message {
	var msgs []test.Message
	for i := range n {
		msgs = append(msgs, test.Message{
			Body:  []byte(fmt.Sprintf("From: v%d@example.com\r\nSubject: variation %d\r\n\r\nbody %d\r\n%s", i, i, i, strings.Repeat("0123456789abcdef\r\n", i*200))),
			Date:  time.Date(2024, 5, 1+i, 8, 30, 0, 0, time.UTC),
			Flags: []string{`\Flagged`},
		})
	}
	return msgs
}

func exerciseScripted(t *testing.T, s *test.Scripted, noUIDPlus bool, flags ...string) {
	uids := s.Seed(t, "INBOX", scriptedMessages(4)...)
	s.CreateMailbox(t, "Work")
	workUID := s.Seed(t, "Work", scriptedMessages(1)...)[0]
	s.CreateMailbox(t, "Empty")
	m := s.Mount(t, flags...)
	defer func() {
		if t.Failed() {
			t.Logf("imapfs log:\n%s\nthe server's transcript:\n%s", m.Log(), s.Transcript(12000))
		}
	}()
	inbox := filepath.Join(m.Dir, "INBOX")

	// ls: mailboxes and, with ls -l, every message's size and date.
	root, err := exec.Command("ls", m.Dir).CombinedOutput()
	if err != nil || strings.Fields(string(root)) == nil || !slices.Equal(strings.Fields(string(root)), []string{"Empty", "INBOX", "Work"}) {
		t.Errorf("ls of the root: %v %q", err, root)
	}
	for _, sm := range s.Messages(t, "INBOX") {
		name := fmt.Sprintf("%d.eml", sm.UID)
		info, err := os.Stat(filepath.Join(inbox, name))
		if err != nil {
			t.Errorf("stat %s: %v", name, err)
			continue
		}
		if info.Size() != sm.Size || !info.ModTime().Equal(sm.InternalDate) {
			t.Errorf("%s: size %d mtime %v; server: size %d date %v", name, info.Size(), info.ModTime(), sm.Size, sm.InternalDate)
		}
	}
	if out, err := exec.Command("ls", "-l", inbox).CombinedOutput(); err != nil || strings.Count(string(out), ".eml") != len(uids) {
		t.Errorf("ls -l INBOX: %v\n%s", err, out)
	}
	// The flags as parsed, keywords and all.
	first := filepath.Join(inbox, fmt.Sprintf("%d.eml", uids[0]))
	out, err := exec.Command("getfattr", "--absolute-names", "--only-values", "-n", "user.imap.flags", first).Output()
	got, want := strings.Fields(string(out)), s.Messages(t, "INBOX")[0].Flags
	slices.Sort(got)
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("user.imap.flags of %s: %v %q, server has %q", first, err, got, want)
	}

	// cat: the exact bytes; dd skip=: a partial read in the middle.
	for _, uid := range uids {
		data, err := exec.Command("cat", filepath.Join(inbox, fmt.Sprintf("%d.eml", uid))).Output()
		if want := s.Body(t, "INBOX", uid); err != nil || !bytes.Equal(data, want) {
			t.Errorf("cat %d.eml: %v: %d bytes, server has %d", uid, err, len(data), len(want))
		}
	}
	last := uids[len(uids)-1]
	part, err := exec.Command("dd", "if="+filepath.Join(inbox, fmt.Sprintf("%d.eml", last)), "bs=100", "skip=20", "count=3", "status=none").Output()
	if want := s.Body(t, "INBOX", last)[2000:2300]; err != nil || !bytes.Equal(part, want) {
		t.Errorf("dd skip=20 of %d.eml: %v: %q, want %q", last, err, part, want)
	}
	for _, sm := range s.Messages(t, "INBOX") {
		if slices.Contains(sm.Flags, `\Seen`) {
			t.Errorf("reading set \\Seen on UID %d", sm.UID)
		}
	}

	// rm: exactly the message named, and only with UIDPLUS.
	out, err = exec.Command("rm", filepath.Join(inbox, fmt.Sprintf("%d.eml", uids[1]))).CombinedOutput()
	var left []uint32
	for _, sm := range s.Messages(t, "INBOX") {
		left = append(left, sm.UID)
		if slices.Contains(sm.Flags, `\Deleted`) {
			t.Errorf("UID %d left \\Deleted", sm.UID)
		}
	}
	switch {
	case noUIDPlus:
		if err == nil || !strings.Contains(string(out), "not supported") || !slices.Equal(left, uids) {
			t.Errorf("rm without UIDPLUS: %v %s; server holds %v", err, out, left)
		}
	case err != nil:
		t.Errorf("rm: %v %s", err, out)
	default:
		if want := []uint32{uids[0], uids[2], uids[3]}; !slices.Equal(left, want) {
			t.Errorf("after rm the server holds %v, want %v", left, want)
		}
	}

	// Another client expunges a message: the listing follows.
	s.Expunge(t, "INBOX", uids[0])
	listed := map[string]bool{}
	for _, sm := range s.Messages(t, "INBOX") {
		listed[fmt.Sprintf("%d.eml", sm.UID)] = true
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		entries, err := os.ReadDir(inbox)
		got := map[string]bool{}
		for _, e := range entries {
			got[e.Name()] = true
		}
		if err == nil && fmt.Sprint(got) == fmt.Sprint(listed) {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("after another client's expunge INBOX lists %v (%v), server has %v", got, err, listed)
			break
		}
	}

	// rmdir: a mailbox with a message is not empty; an empty one goes.
	if out, err := exec.Command("rmdir", filepath.Join(m.Dir, "Work")).CombinedOutput(); err == nil || !strings.Contains(string(out), "not empty") {
		t.Errorf("rmdir of a mailbox with a message: %v %s", err, out)
	}
	if got := s.Messages(t, "Work"); len(got) != 1 || got[0].UID != workUID {
		t.Errorf("Work holds %+v after a refused rmdir", got)
	}
	// Selected first (ls), as a user's shell would have it.
	exec.Command("ls", filepath.Join(m.Dir, "Empty")).Run()
	if out, err := exec.Command("rmdir", filepath.Join(m.Dir, "Empty")).CombinedOutput(); err != nil {
		t.Errorf("rmdir of an empty mailbox: %v %s", err, out)
	}
	if slices.Contains(s.Mailboxes(), "Empty") {
		t.Errorf("Empty still on the server: %v", s.Mailboxes())
	}

	// mkdir, then cp in and mv into it.
	fresh := filepath.Join(m.Dir, "Fresh")
	if out, err := exec.Command("mkdir", fresh).CombinedOutput(); err != nil || !slices.Contains(s.Mailboxes(), "Fresh") {
		t.Errorf("mkdir: %v %s; server has %v", err, out, s.Mailboxes())
		return
	}
	src := filepath.Join(t.TempDir(), "new.eml")
	body := []byte("From: cp@example.com\r\nSubject: copied in\r\n\r\nhello\r\n")
	os.WriteFile(src, body, 0o644)
	if out, err := exec.Command("cp", src, fresh+"/").CombinedOutput(); err != nil {
		t.Errorf("cp in: %v %s", err, out)
	} else if got := s.Messages(t, "Fresh"); len(got) != 1 || !bytes.Equal(s.Body(t, "Fresh", got[0].UID), body) {
		t.Errorf("after cp Fresh holds %+v", got)
	}
	if noUIDPlus {
		return // mv needs UIDPLUS (or MOVE with COPYUID) to know the new UID
	}
	moved := uids[3]
	movedBody := s.Body(t, "INBOX", moved)
	if out, err := exec.Command("mv", filepath.Join(inbox, fmt.Sprintf("%d.eml", moved)), fresh+"/").CombinedOutput(); err != nil {
		t.Errorf("mv: %v %s", err, out)
	}
	var inInbox []uint32
	for _, sm := range s.Messages(t, "INBOX") {
		inInbox = append(inInbox, sm.UID)
	}
	inFresh := s.Messages(t, "Fresh")
	if slices.Contains(inInbox, moved) || len(inFresh) != 2 || !bytes.Equal(s.Body(t, "Fresh", inFresh[1].UID), movedBody) {
		t.Errorf("after mv INBOX holds %v and Fresh %+v", inInbox, inFresh)
	}
}

// rmdir on a server without UNSELECT that refuses to delete the selected
// mailbox: the mailbox is left first, never with CLOSE or EXPUNGE, and
// rmdir works every time.
func TestRmdirWithoutUnselect(t *testing.T) {
	test.RequireFUSE(t)
	s := test.StartScripted(t, test.Variation{Capabilities: without("UNSELECT"), RefuseDeleteSelected: true})
	for _, name := range []string{"One", "Two"} {
		s.CreateMailbox(t, name)
	}
	s.Seed(t, "INBOX", test.Message{Body: []byte("Subject: deleted elsewhere\r\n\r\nx\r\n"), Flags: []string{`\Deleted`}})
	m := s.Mount(t)
	run(t, "ls", filepath.Join(m.Dir, "INBOX"))
	for _, name := range []string{"One", "Two"} {
		dir := filepath.Join(m.Dir, name)
		run(t, "ls", dir) // selects it
		if out, err := exec.Command("rmdir", dir).CombinedOutput(); err != nil {
			t.Errorf("rmdir %s: %v %s\n%s", name, err, out, s.Transcript(6000))
		}
	}
	if got := s.Mailboxes(); !slices.Equal(got, []string{"INBOX"}) {
		t.Errorf("the server holds %v, want only INBOX", got)
	}
	if got := s.Messages(t, "INBOX"); len(got) != 1 {
		t.Errorf("INBOX holds %+v: another client's \\Deleted message was expunged", got)
	}
	for _, cmd := range s.Commands() {
		if strings.HasPrefix(cmd, "CLOSE") || strings.Contains(cmd, "EXPUNGE") {
			t.Errorf("sent %q", cmd)
		}
	}
}

// Names no real server here will hold, listed by a server that does: an
// mUTF-7 NUL, "." and ".." components, empty components. Those that cannot
// be file names are left out (and logged), "." and ".." are escaped, and
// everything else lists, opens and reads.
func TestUnmappableMailboxNamesListed(t *testing.T) {
	s := test.StartScripted(t, test.Variation{})
	s.Seed(t, "INBOX", scriptedMessages(1)...)
	for _, name := range []string{"ok", "x&AAA-y", "..", "a/./b", "a/../c", "/lead", "e//f", "g/"} {
		s.CreateMailbox(t, name)
	}
	s.Seed(t, "..", scriptedMessages(1)...)
	s.Seed(t, "a/../c", scriptedMessages(2)...)
	m := s.Mount(t)
	root, err := exec.Command("ls", m.Dir).CombinedOutput()
	if err != nil {
		t.Fatalf("ls of the root: %v %s\n%s", err, root, m.Log())
	}
	for _, want := range []string{"INBOX", "ok", "%2E.", "a"} {
		if !slices.Contains(strings.Fields(string(root)), want) {
			t.Errorf("ls lists %q, without %s", root, want)
		}
	}
	if strings.Contains(string(root), "x") {
		t.Errorf("ls lists the name with a NUL: %q", root)
	}
	// find stats every entry and reads every directory it lists.
	out, err := exec.Command("find", m.Dir).CombinedOutput()
	if err != nil {
		t.Fatalf("find: %v\n%s", err, out)
	}
	for _, want := range []string{"/%2E./1.eml", "/a/%2E/b", "/a/%2E./c/2.eml"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("find does not show %s:\n%s", want, out)
		}
	}
	got, err := os.ReadFile(filepath.Join(m.Dir, "a", "%2E.", "c", "1.eml"))
	if want := s.Body(t, "a/../c", 1); err != nil || !bytes.Equal(got, want) {
		t.Errorf("reading a/%%2E./c/1.eml: %v, %d bytes, want %d", err, len(got), len(want))
	}
	if !strings.Contains(m.Log(), "cannot be a file name") {
		t.Errorf("the names left out are not logged:\n%s", m.Log())
	}
}

// Messages larger than a block, from a server that sends the UID after
// the body, read by several readers at once: every body section reaches
// its reader whole (streamed, or held once until the UID names it), and
// cat and grep see the server's exact bytes.
func TestLargeMessagesUIDAfterBody(t *testing.T) {
	s := test.StartScripted(t, test.Variation{FetchOrder: "uid-last"})
	var msgs []test.Message
	for i := range 4 {
		body := fmt.Sprintf("From: big%d@example.com\r\nSubject: big %d\r\n\r\n", i, i)
		body += strings.Repeat(fmt.Sprintf("line of message %d, 0123456789abcdef\r\n", i), (3<<20)/40)
		msgs = append(msgs, test.Message{Body: []byte(body), Date: time.Date(2024, 6, 1+i, 9, 0, 0, 0, time.UTC)})
	}
	uids := s.Seed(t, "INBOX", msgs...)
	m := s.Mount(t)
	inbox := filepath.Join(m.Dir, "INBOX")
	errs := make(chan error, 2*len(uids))
	for _, uid := range uids {
		for range 2 {
			go func() {
				got, err := os.ReadFile(filepath.Join(inbox, fmt.Sprintf("%d.eml", uid)))
				if err == nil && !bytes.Equal(got, s.Body(t, "INBOX", uid)) {
					err = fmt.Errorf("%d.eml: %d bytes, not the server's %d", uid, len(got), len(s.Body(t, "INBOX", uid)))
				}
				errs <- err
			}()
		}
	}
	for range 2 * len(uids) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	out, err := exec.Command("grep", "-rlc", "line of message 3", m.Dir).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != filepath.Join(inbox, fmt.Sprintf("%d.eml", uids[3])) {
		t.Errorf("grep -rl: %v %q\n%s", err, out, m.Log())
	}
}

// An APPEND the server stored but answered with a code that does not
// parse fails the copy; trying again (a new close of the file) must find
// the message there rather than store it a second time.
func TestUploadAnsweredUnclearlyStoredOnce(t *testing.T) {
	s := test.StartScripted(t, test.Variation{BrokenAppendUID: true})
	m := s.Mount(t)
	src := filepath.Join(t.TempDir(), "new.eml")
	body := scriptedMessages(1)[0].Body
	if err := os.WriteFile(src, body, 0o600); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(m.Dir, "INBOX", "new.eml")
	out, err := exec.Command("cp", src, target).CombinedOutput()
	t.Logf("cp: %v %s", err, out)
	if err == nil {
		// Taken for stored: nothing left to try again.
		if got := s.Messages(t, "INBOX"); len(got) != 1 {
			t.Fatalf("the server holds %d messages, want 1", len(got))
		}
		return
	}
	exec.Command("sh", "-c", ": >> '"+target+"'").Run()
	if got := s.Messages(t, "INBOX"); len(got) != 1 || !bytes.Equal(s.Body(t, "INBOX", got[0].UID), body) {
		t.Fatalf("the server holds %d messages after the retry, want the one\n%s", len(got), m.Log())
	}
}
