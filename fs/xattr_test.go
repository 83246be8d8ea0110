package fs_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"imapfs/test"
)

func getfattr(t *testing.T, name, path string) string {
	t.Helper()
	return run(t, "getfattr", "--absolute-names", "--only-values", "-n", name, path)
}

// answerer runs commands on a raw session and returns their untagged
// responses, one a line; a refusal fails the test.
func answerer(t *testing.T, raw *test.Raw) func(cmd string) string {
	return func(cmd string) string {
		t.Helper()
		untagged, _, err := raw.Run(cmd)
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		return strings.Join(untagged, "\n")
	}
}

// df shows the account's quota; the root tells capabilities and
// namespaces; a mailbox its STATUS, as the server itself counts.
func TestQuotaAndStatusAttributes(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUserWithQuota(t, test.Quota{StorageKiB: 20480, Messages: 500})
		uids := seedSome(t, s, u, "INBOX", 3)
		c := s.Session(t, u)
		c.Run("SELECT INBOX")
		c.Run(fmt.Sprintf("UID STORE %d +FLAGS.SILENT (\\Seen)", uids[0]))
		m := test.Mount(t, s, u)

		fields := strings.Fields(strings.Split(run(t, "df", "-k", "--output=size,used,avail,itotal,iused", m.Dir), "\n")[1])
		if fields[0] != "20480" || fields[3] != "500" || fields[4] != "3" {
			t.Errorf("df: %v, want size 20480 KiB and 500 files of which 3 used", fields)
		}
		if used, _ := strconv.Atoi(fields[1]); used < 1 || used > 20 {
			t.Errorf("df used %s KiB for 3 small messages", fields[1])
		}

		if caps := getfattr(t, "user.imap.capability", m.Dir); !strings.Contains(caps, "IMAP4REV1") || !strings.Contains(caps, "QUOTA") {
			t.Errorf("capability: %q", caps)
		}
		ns := getfattr(t, "user.imap.namespace", m.Dir)
		wantNS := `personal "" "/"`
		if s.Kind == "cyrus" {
			wantNS = `personal "INBOX." "."`
		}
		if !strings.Contains(ns, wantNS) {
			t.Errorf("namespace %q lacks %q", ns, wantNS)
		}

		inbox := mailboxDir(m, s, "INBOX")
		stored := s.Messages(t, u, "INBOX")
		for name, want := range map[string]string{
			"user.imap.messages": "3",
			"user.imap.unseen":   "2",
			"user.imap.uidnext":  strconv.Itoa(int(stored[2].UID) + 1),
		} {
			if got := getfattr(t, name, inbox); got != want {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		}
		if v := getfattr(t, "user.imap.uidvalidity", inbox); v == "" || v == "0" {
			t.Errorf("uidvalidity %q", v)
		}
		out, err := exec.Command("getfattr", "--absolute-names", "-d", inbox).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "user.imap.messages=\"3\"") {
			t.Errorf("getfattr -d: %v %s", err, out)
		}
		if out, err := exec.Command("getfattr", "-n", "user.imap.nothing", inbox).CombinedOutput(); err == nil || !strings.Contains(string(out), "No such attribute") {
			t.Errorf("an unknown attribute: %v %s", err, out)
		}
		// No SELinux labels or POSIX ACLs: that namespace is unsupported,
		// which ls -l remembers instead of asking again for every file.
		for _, node := range []string{m.Dir, inbox, filepath.Join(inbox, fmt.Sprintf("%d.eml", uids[0]))} {
			for _, name := range []string{"security.selinux", "system.posix_acl_access"} {
				if out, err := exec.Command("getfattr", "-n", name, node).CombinedOutput(); err == nil || !strings.Contains(string(out), "Operation not supported") {
					t.Errorf("%s of %s: %v %s", name, node, err, out)
				}
			}
		}
	})
}

// ACLs, quota, subscription and metadata of a mailbox, and server
// metadata on the root, through getfattr and setfattr, checked by raw
// sessions.
func TestMailboxAttributes(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u, other := s.NewUser(t), s.NewUser(t)
		box := s.Personal("Projekt")
		s.CreateMailbox(t, u, box)
		m := test.Mount(t, s, u)
		dir := mailboxDir(m, s, box)
		answer := answerer(t, s.Session(t, u))
		quoted := fmt.Sprintf("%q", box)

		// Subscription.
		run(t, "setfattr", "-n", "user.imap.subscribed", "-v", "1", dir)
		if !strings.Contains(answer(`LSUB "" `+quoted), box) || getfattr(t, "user.imap.subscribed", dir) != "1" {
			t.Error("subscribing did not take")
		}
		run(t, "setfattr", "-n", "user.imap.subscribed", "-v", "0", dir)
		if strings.Contains(answer(`LSUB "" `+quoted), box) || getfattr(t, "user.imap.subscribed", dir) != "0" {
			t.Error("unsubscribing did not take")
		}
		if out, err := exec.Command("setfattr", "-n", "user.imap.subscribed", "-v", "yes", dir).CombinedOutput(); err == nil || !strings.Contains(string(out), "Invalid argument") {
			t.Errorf("a bad subscription value: %v %s", err, out)
		}

		// ACL.
		run(t, "setfattr", "-n", "user.imap.acl."+other.Name, "-v", "lr", dir)
		if got := answer("GETACL " + quoted); !strings.Contains(got, other.Name+" lr") {
			t.Errorf("GETACL after setfattr: %s", got)
		}
		if acl := getfattr(t, "user.imap.acl", dir); !strings.Contains(acl, other.Name+" lr") || !strings.Contains(acl, u.Name+" ") {
			t.Errorf("user.imap.acl: %q", acl)
		}
		if got := getfattr(t, "user.imap.acl."+other.Name, dir); got != "lr" {
			t.Errorf("user.imap.acl.%s = %q", other.Name, got)
		}
		run(t, "setfattr", "-x", "user.imap.acl."+other.Name, dir)
		if got := answer("GETACL " + quoted); strings.Contains(got, other.Name) {
			t.Errorf("GETACL after removing: %s", got)
		}
		if rights := getfattr(t, "user.imap.myrights", dir); !strings.Contains(rights, "a") || !strings.Contains(rights, "l") {
			t.Errorf("myrights %q", rights)
		}

		// Quota.
		if q := getfattr(t, "user.imap.quota", dir); !strings.Contains(q, "STORAGE") || !strings.Contains(q, "4194304") {
			t.Errorf("quota %q", q)
		}

		// Metadata, of the mailbox and of the server.
		run(t, "setfattr", "-n", "user.imap.metadata./private/comment", "-v", "Zum Projekt ✓", dir)
		if got := answer("GETMETADATA " + quoted + " (/private/comment)"); !strings.Contains(got, "Zum Projekt") {
			t.Errorf("GETMETADATA after setfattr: %s", got)
		}
		if got := getfattr(t, "user.imap.metadata./private/comment", dir); got != "Zum Projekt ✓" {
			t.Errorf("metadata read back %q", got)
		}
		run(t, "setfattr", "-x", "user.imap.metadata./private/comment", dir)
		if got := answer("GETMETADATA " + quoted + " (/private/comment)"); strings.Contains(got, "Zum Projekt") {
			t.Errorf("GETMETADATA after removing: %s", got)
		}
		run(t, "setfattr", "-n", "user.imap.metadata./private/vendor/imapfs/note", "-v", "server wide", m.Dir)
		if got := answer(`GETMETADATA "" (/private/vendor/imapfs/note)`); !strings.Contains(got, "server wide") {
			t.Errorf("server GETMETADATA: %s", got)
		}

		// getfattr -d lists what there is, and no more.
		out := run(t, "getfattr", "--absolute-names", "-d", dir)
		for _, want := range []string{"user.imap.subscribed", "user.imap.acl=", "user.imap.myrights", "user.imap.quota", "user.imap.messages"} {
			if !strings.Contains(out, want) {
				t.Errorf("getfattr -d lacks %s:\n%s", want, out)
			}
		}
		if out, err := exec.Command("getfattr", "-n", "user.imap.metadata./private/none", dir).CombinedOutput(); err == nil || !strings.Contains(string(out), "No such attribute") {
			t.Errorf("a missing entry: %v %s", err, out)
		}
	})
}

// A message tells its INTERNALDATE and, with CONDSTORE, its MODSEQ, which
// grows when its flags change.
func TestMessageAttributes(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		uid := s.Seed(t, u, "INBOX", test.Message{Body: []byte("Subject: a\r\n\r\na\r\n"), Date: time.Date(2022, 3, 4, 5, 6, 7, 0, time.UTC)})[0]
		m := test.Mount(t, s, u)
		file := filepath.Join(mailboxDir(m, s, "INBOX"), fmt.Sprintf("%d.eml", uid))
		if got := getfattr(t, "user.imap.internaldate", file); got != "04-Mar-2022 05:06:07 +0000" {
			t.Errorf("internaldate %q", got)
		}
		before, _ := strconv.ParseUint(getfattr(t, "user.imap.modseq", file), 10, 64)
		run(t, "setfattr", "-n", "user.imap.flags", "-v", `\Flagged`, file)
		after, _ := strconv.ParseUint(getfattr(t, "user.imap.modseq", file), 10, 64)
		if before == 0 || after <= before {
			t.Errorf("modseq %d, then %d after a flag change", before, after)
		}
	})
}

// ".search/<criteria>" lists the messages a server-side UID SEARCH finds,
// readable like the mailbox's own; it is never listed, and invalid
// criteria are EINVAL.
func TestSearchDirectory(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		uids := seedSome(t, s, u, "INBOX", 4)
		cafe := s.Seed(t, u, "INBOX", test.Message{Body: []byte("From: alice@example.com\r\nSubject: =?UTF-8?Q?caf=C3=A9?=\r\n\r\nnon-ASCII\r\n")})[0]
		m := test.Mount(t, s, u)
		inbox := mailboxDir(m, s, "INBOX")

		if out := run(t, "ls", filepath.Join(inbox, ".search", "SUBJECT \"hello 2\"")); strings.TrimSpace(out) != fmt.Sprintf("%d.eml", uids[2]) {
			t.Errorf("search by subject: %q", out)
		}
		if out := run(t, "ls", filepath.Join(inbox, ".search", "FROM alice SUBJECT café")); strings.TrimSpace(out) != fmt.Sprintf("%d.eml", cafe) {
			t.Errorf("non-ASCII search: %q", out)
		}
		out := run(t, "sh", "-c", "grep -l 'body 1' '"+filepath.Join(inbox, ".search", "NOT SUBJECT café")+"'/*")
		if !strings.Contains(out, fmt.Sprintf("%d.eml", uids[1])) {
			t.Errorf("grep in a search: %q", out)
		}
		if out, err := exec.Command("ls", filepath.Join(inbox, ".search", "FROM (unbalanced")).CombinedOutput(); err == nil || !strings.Contains(string(out), "Invalid argument") {
			t.Errorf("invalid criteria: %v %s", err, out)
		}
		if out := run(t, "ls", "-a", inbox); strings.Contains(out, ".search") {
			t.Errorf(".search is listed:\n%s", out)
		}
		if out := run(t, "find", m.Dir, "-name", "*.eml"); strings.Count(out, ".eml") != 5 {
			t.Errorf("find walked into a search:\n%s", out)
		}
	})
}

// ".sort/<keys>" lists messages in the server's SORT order under names a
// plain ls sorts the same way; ".thread/<algorithm>" has a directory per
// thread.
func TestSortAndThreadDirectories(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		msg := func(id, subject, refs string, day int) test.Message {
			body := "Message-ID: <" + id + "@example.com>\r\nSubject: " + subject + "\r\n"
			if refs != "" {
				body += "In-Reply-To: <" + refs + "@example.com>\r\nReferences: <" + refs + "@example.com>\r\n"
			}
			body += fmt.Sprintf("Date: %d Mar 2024 10:00:00 +0000\r\n\r\nbody\r\n", day)
			return test.Message{Body: []byte(body), Date: time.Date(2024, 3, day, 10, 0, 0, 0, time.UTC)}
		}
		uids := s.Seed(t, u, "INBOX",
			msg("a", "plans", "", 3),
			msg("b", "other topic", "", 1),
			msg("c", "Re: plans", "a", 5))
		m := test.Mount(t, s, u)
		inbox := mailboxDir(m, s, "INBOX")

		got := strings.Fields(run(t, "ls", filepath.Join(inbox, ".sort", "REVERSE DATE")))
		want := []string{fmt.Sprintf("000001-%d.eml", uids[2]), fmt.Sprintf("000002-%d.eml", uids[0]), fmt.Sprintf("000003-%d.eml", uids[1])}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("ls .sort/REVERSE DATE: %v, want %v", got, want)
		}
		if data := run(t, "cat", filepath.Join(inbox, ".sort", "REVERSE DATE", want[0])); !strings.Contains(data, "Re: plans") {
			t.Errorf("reading a sorted message: %q", data)
		}
		threads := strings.Fields(run(t, "ls", filepath.Join(inbox, ".thread", "REFERENCES")))
		if len(threads) != 2 {
			t.Fatalf("threads %v, want 2", threads)
		}
		var sizes []string
		for _, th := range threads {
			sizes = append(sizes, strconv.Itoa(len(strings.Fields(run(t, "ls", filepath.Join(inbox, ".thread", "REFERENCES", th))))))
		}
		if strings.Join(sizes, " ") != "2 1" && strings.Join(sizes, " ") != "1 2" {
			t.Errorf("thread sizes %v, want one of 2 and one of 1", sizes)
		}
		if algorithms := run(t, "ls", filepath.Join(inbox, ".thread")); !strings.Contains(algorithms, "REFERENCES") || !strings.Contains(algorithms, "ORDEREDSUBJECT") {
			t.Errorf("ls .thread: %q", algorithms)
		}
		if out, err := exec.Command("ls", filepath.Join(inbox, ".sort", "NOSUCHKEY")).CombinedOutput(); err == nil || !strings.Contains(string(out), "Invalid argument") {
			t.Errorf(".sort/NOSUCHKEY: %v %s", err, out)
		}
		if out, err := exec.Command("ls", filepath.Join(inbox, ".thread", "NOSUCHALGORITHM")).CombinedOutput(); err == nil || !strings.Contains(string(out), "No such file") {
			t.Errorf(".thread/NOSUCHALGORITHM: %v %s", err, out)
		}
		if out := run(t, "ls", "-a", inbox); strings.Contains(out, ".sort") || strings.Contains(out, ".thread") {
			t.Errorf("virtual directories listed:\n%s", out)
		}
	})
}

// An administrator sets a quota through user.imap.quota.<root> on the
// root (Cyrus; Dovecot offers no SETQUOTA over IMAP, and says so).
func TestAdminSetsQuota(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		if s.Kind == "dovecot" {
			m := test.Mount(t, s, u)
			out, err := exec.Command("setfattr", "-n", "user.imap.quota.User quota", "-v", "STORAGE 100", m.Dir).CombinedOutput()
			if err == nil {
				t.Errorf("Dovecot accepted SETQUOTA from a user: %s", out)
			}
			return
		}
		admin := test.Mount(t, s, s.Admin)
		root := "user." + u.Name
		run(t, "setfattr", "-n", "user.imap.quota."+root, "-v", "STORAGE 5000 MESSAGE 42", admin.Dir)
		untagged, _, err := s.Session(t, s.Admin).Run("GETQUOTA " + root)
		if err != nil || !strings.Contains(strings.Join(untagged, " "), "STORAGE 0 5000 MESSAGE 0 42") {
			t.Errorf("GETQUOTA after setfattr: %v %v", untagged, err)
		}
		if out, err := exec.Command("setfattr", "-n", "user.imap.quota."+root, "-v", "STORAGE lots", admin.Dir).CombinedOutput(); err == nil || !strings.Contains(string(out), "Invalid argument") {
			t.Errorf("a malformed limit: %v %s", err, out)
		}
		m := test.Mount(t, s, u)
		if q := getfattr(t, "user.imap.quota", mailboxDir(m, s, "INBOX")); !strings.Contains(q, "STORAGE 0 5000") {
			t.Errorf("the user sees quota %q", q)
		}
	})
}

// user.imap.specialuse shows a mailbox's special use (Cyrus here; the
// test Dovecot has none configured); SETACL on a mailbox one may not
// administer is EACCES.
func TestSpecialUseAndACLDenied(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		owner, reader := s.NewUser(t), s.NewUser(t)
		if _, _, err := s.Session(t, owner).Run("SETACL INBOX " + reader.Name + " lr"); err != nil {
			t.Fatal(err)
		}
		if s.Kind == "cyrus" {
			if _, _, err := s.Session(t, reader).Run(`CREATE "INBOX.Sent" (USE (\Sent))`); err != nil {
				t.Fatal(err)
			}
		}
		m := test.Mount(t, s, reader)
		if s.Kind == "cyrus" {
			if got := getfattr(t, "user.imap.specialuse", mailboxDir(m, s, "INBOX.Sent")); got != `\Sent` {
				t.Errorf("specialuse %q", got)
			}
		}
		shared := filepath.Join(m.Dir, "shared", owner.Name)
		if s.Kind == "cyrus" {
			shared = filepath.Join(m.Dir, "user", owner.Name)
		}
		out, err := exec.Command("setfattr", "-n", "user.imap.acl."+reader.Name, "-v", "lrswipkxtea", shared).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "Permission denied") {
			t.Errorf("SETACL without the a right: %v %s", err, out)
		}
	})
}

// A server that lacks METADATA but has the older ANNOTATEMORE keeps the
// same user.imap.metadata.* attributes through GETANNOTATION and
// SETANNOTATION; without QUOTA, df shows 1 PiB and no quota attribute;
// without SORT and THREAD, .sort and .thread are absent. Cyrus plays that
// server: it hides the capabilities it is told to and still has the
// legacy annotation commands.
func TestServerWithoutExtensions(t *testing.T) {
	s := test.StartCyrusWith(t, test.CyrusOptions{
		LegacyAnnotations:    true,
		SuppressCapabilities: "METADATA METADATA-SERVER QUOTA SORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES THREAD=REFS",
	})
	u := s.NewUser(t)
	box := s.Personal("Notes")
	s.CreateMailbox(t, u, box)
	seedSome(t, s, u, "INBOX", 2)
	answer := answerer(t, s.Session(t, u))
	caps := " " + answer("CAPABILITY") + " "
	for _, absent := range []string{" METADATA ", " QUOTA ", " SORT ", " THREAD="} {
		if strings.Contains(caps, absent) || !strings.Contains(caps, " ANNOTATEMORE ") {
			t.Fatalf("the server should have ANNOTATEMORE and not%s: %s", absent, caps)
		}
	}
	m := test.Mount(t, s, u)
	dir := mailboxDir(m, s, box)
	quoted := fmt.Sprintf("%q", box)

	// Metadata through annotations: /private is value.priv, /shared value.shared.
	run(t, "setfattr", "-n", "user.imap.metadata./private/comment", "-v", "eigene Notiz ✓", dir)
	run(t, "setfattr", "-n", "user.imap.metadata./shared/comment", "-v", "for everyone", dir)
	got := answer("GETANNOTATION " + quoted + ` "/comment" ("value.priv" "value.shared")`)
	if !strings.Contains(got, `"value.priv" "eigene Notiz`) && !strings.Contains(got, `"value.priv" {`) || !strings.Contains(got, `"value.shared" "for everyone"`) {
		t.Errorf("GETANNOTATION after setfattr: %s", got)
	}
	answer("SETANNOTATION " + quoted + ` "/vendor/example/tag" ("value.priv" "set elsewhere")`)
	for name, want := range map[string]string{
		"user.imap.metadata./private/comment":            "eigene Notiz ✓",
		"user.imap.metadata./shared/comment":             "for everyone",
		"user.imap.metadata./private/vendor/example/tag": "set elsewhere",
	} {
		if got := getfattr(t, name, dir); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	listed := run(t, "getfattr", "--absolute-names", "-d", dir)
	for _, want := range []string{"user.imap.metadata./private/comment=", "user.imap.metadata./shared/comment=", "user.imap.metadata./private/vendor/example/tag=", "user.imap.acl="} {
		if !strings.Contains(listed, want) {
			t.Errorf("getfattr -d lacks %s:\n%s", want, listed)
		}
	}
	for _, unwanted := range []string{"cyrus-imapd", "user.imap.quota", "/private/check"} {
		if strings.Contains(listed, unwanted) {
			t.Errorf("getfattr -d lists %s:\n%s", unwanted, listed)
		}
	}
	run(t, "setfattr", "-x", "user.imap.metadata./private/comment", dir)
	if got := answer("GETANNOTATION " + quoted + ` "/comment" ("value.priv")`); strings.Contains(got, "Notiz") {
		t.Errorf("GETANNOTATION after removing: %s", got)
	}
	if out, err := exec.Command("getfattr", "-n", "user.imap.metadata./private/comment", dir).CombinedOutput(); err == nil || !strings.Contains(string(out), "No such attribute") {
		t.Errorf("a removed entry: %v %s", err, out)
	}
	if out, err := exec.Command("setfattr", "-n", "user.imap.metadata./comment", "-v", "x", dir).CombinedOutput(); err == nil || !strings.Contains(string(out), "Invalid argument") {
		t.Errorf("an entry outside /private and /shared: %v %s", err, out)
	}

	// Server annotations: a user may set a private one, not a shared one.
	run(t, "setfattr", "-n", "user.imap.metadata./private/comment", "-v", "server note", m.Dir)
	if got := answer(`GETANNOTATION "" "/comment" ("value.priv")`); !strings.Contains(got, "server note") {
		t.Errorf("server GETANNOTATION: %s", got)
	}
	if got := getfattr(t, "user.imap.metadata./private/comment", m.Dir); got != "server note" {
		t.Errorf("server annotation read back %q", got)
	}
	if out, err := exec.Command("setfattr", "-n", "user.imap.metadata./shared/comment", "-v", "x", m.Dir).CombinedOutput(); err == nil || !strings.Contains(string(out), "Permission denied") {
		t.Errorf("a shared server annotation as a user: %v %s", err, out)
	}

	// No QUOTA: df shows the 1 PiB of an unknown size.
	fields := strings.Fields(strings.Split(run(t, "df", "-k", "--output=size,used", m.Dir), "\n")[1])
	if fields[0] != strconv.FormatUint(1<<40, 10) || fields[1] != "0" {
		t.Errorf("df without QUOTA: %v, want 1 PiB with nothing used", fields)
	}
	if out, err := exec.Command("getfattr", "-n", "user.imap.quota", dir).CombinedOutput(); err == nil || !strings.Contains(string(out), "No such attribute") {
		t.Errorf("user.imap.quota without QUOTA: %v %s", err, out)
	}

	// No SORT or THREAD: no .sort or .thread; .search stays.
	inbox := mailboxDir(m, s, "INBOX")
	for _, virtual := range []string{".sort/DATE", ".thread", ".thread/REFERENCES"} {
		if out, err := exec.Command("ls", filepath.Join(inbox, virtual)).CombinedOutput(); err == nil || !strings.Contains(string(out), "No such file") {
			t.Errorf("ls %s without the extension: %v %s", virtual, err, out)
		}
	}
	if found := strings.Fields(run(t, "ls", filepath.Join(inbox, ".search", "ALL"))); len(found) != 2 {
		t.Errorf(".search/ALL: %v, want 2 messages", found)
	}
}
