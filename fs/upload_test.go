package fs_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"imapfs/test"
)

func writeMessage(t *testing.T, dir, name string, i int) []byte {
	t.Helper()
	body := []byte(fmt.Sprintf("From: up%d@example.com\r\nSubject: upload %d\r\n\r\nnew message %d\r\n", i, i, i))
	if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
		t.Fatal(err)
	}
	return body
}

// cp, cp -p and cat > F store new messages with APPEND: byte for byte,
// with the mtime set before the upload as INTERNALDATE, listed under their
// new UID at once.
func TestUploadNewMessages(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		m := test.Mount(t, s, u)
		inbox := mailboxDir(m, s, "INBOX")
		src := t.TempDir()
		plain := writeMessage(t, src, "plain.eml", 1)
		dated := writeMessage(t, src, "dated.eml", 2)
		date := time.Date(2021, 6, 7, 8, 9, 10, 0, time.UTC)
		os.Chtimes(filepath.Join(src, "dated.eml"), date, date)

		run(t, "cp", filepath.Join(src, "plain.eml"), inbox+"/")
		run(t, "cp", "-p", filepath.Join(src, "dated.eml"), inbox+"/")
		run(t, "sh", "-c", "printf 'Subject: cat\\r\\n\\r\\nfrom cat\\r\\n' > '"+inbox+"/cat.eml'")

		stored := s.Messages(t, u, "INBOX")
		if len(stored) != 3 {
			t.Fatalf("server holds %+v\n%s", stored, m.Log())
		}
		for i, want := range [][]byte{plain, dated, []byte("Subject: cat\r\n\r\nfrom cat\r\n")} {
			if got := s.Body(t, u, "INBOX", stored[i].UID); !bytes.Equal(got, want) {
				t.Errorf("message %d: %q, want %q", i, got, want)
			}
		}
		if !stored[1].InternalDate.Equal(date) {
			t.Errorf("cp -p: INTERNALDATE %v, want %v", stored[1].InternalDate, date)
		}
		entries, _ := os.ReadDir(inbox)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		want := []string{fmt.Sprintf("%d.eml", stored[0].UID), fmt.Sprintf("%d.eml", stored[1].UID), fmt.Sprintf("%d.eml", stored[2].UID)}
		if strings.Join(names, " ") != strings.Join(want, " ") {
			t.Errorf("ls shows %v, want %v", names, want)
		}
	})
}

// Files with Unix line ends (a Maildir's, an editor's) are stored with
// CRLF, on Cyrus (which refuses bare newlines) as on Dovecot (which would
// convert them itself). A message saved with vim is one of them.
func TestUploadUnixLineEnds(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		m := test.Mount(t, s, u)
		inbox := mailboxDir(m, s, "INBOX")
		src := filepath.Join(t.TempDir(), "maildir-file")
		if err := os.WriteFile(src, []byte("From: a@example.com\nSubject: Unix\n\nline 1\r\nline 2\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, "cp", src, inbox+"/")
		run(t, "vim", "-u", "NONE", "-N", "-es", "-c", "call setline(1, ['Subject: from vim', '', 'typed in vim'])", "-c", "wq", filepath.Join(inbox, "note.eml"))
		stored := s.Messages(t, u, "INBOX")
		if len(stored) != 2 {
			t.Fatalf("server holds %+v\n%s", stored, m.Log())
		}
		for i, want := range []string{"From: a@example.com\r\nSubject: Unix\r\n\r\nline 1\r\nline 2\r\n", "Subject: from vim\r\n\r\ntyped in vim\r\n"} {
			if got := s.Body(t, u, "INBOX", stored[i].UID); string(got) != want {
				t.Errorf("message %d: %q, want %q", i, got, want)
			}
		}
	})
}

// A file holding NUL bytes is sent as BINARY's literal8 (with CRLF line
// ends, like any other).
// Without BINARY it is refused before anything is sent: EINVAL, the
// reason in the log, the data kept in the spool.
func TestUploadWithNUL(t *testing.T) {
	body := []byte("Subject: binary\n\nzero \x00 byte\r\nand\nmore\x00\n")
	src := filepath.Join(t.TempDir(), "binary.eml")
	if err := os.WriteFile(src, body, 0o644); err != nil {
		t.Fatal(err)
	}
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		m := test.Mount(t, s, u)
		out, err := exec.Command("cp", src, mailboxDir(m, s, "INBOX")+"/").CombinedOutput()
		stored := s.Messages(t, u, "INBOX")
		if err != nil || len(stored) != 1 {
			t.Fatalf("cp: %v %s; server holds %+v\n%s", err, out, stored, m.Log())
		}
		want := bytes.ReplaceAll(bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
		if got := s.Body(t, u, "INBOX", stored[0].UID); !bytes.Equal(got, want) {
			t.Errorf("stored %q, want %q", got, want)
		}
	})
	t.Run("without BINARY", func(t *testing.T) {
		s := test.StartDovecotWith(t, test.DovecotOptions{
			Capabilities: "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT CHILDREN UIDPLUS MOVE",
		})
		u := s.NewUser(t)
		m := test.Mount(t, s, u)
		out, err := exec.Command("cp", src, mailboxDir(m, s, "INBOX")+"/").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "Invalid argument") || !strings.Contains(m.Log(), "NUL") {
			t.Errorf("cp: %v %s\n%s", err, out, m.Log())
		}
		if strings.Contains(m.Log(), "connection lost") || len(s.Messages(t, u, "INBOX")) != 0 {
			t.Errorf("the refusal cost a connection or stored something:\n%s", m.Log())
		}
	})
}

// rsync -a into a new mailbox (temporary names, times set, then rename)
// recreates every message byte for byte with its INTERNALDATE, once.
func TestRsyncRestore(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		// Twelve: rsync restores 1, 10, 11, 12, 2, ... while the new
		// mailbox numbers them 1, 2, 3, ...: names meet on the way.
		seedSome(t, s, u, "INBOX", 12)
		m := test.Mount(t, s, u)
		backup := t.TempDir()
		run(t, "rsync", "-a", mailboxDir(m, s, "INBOX")+"/", backup+"/")
		restored := s.Personal("Restored")
		run(t, "mkdir", mailboxDir(m, s, restored))
		run(t, "rsync", "-a", backup+"/", mailboxDir(m, s, restored)+"/")
		orig, got := s.Messages(t, u, "INBOX"), s.Messages(t, u, restored)
		if len(got) != len(orig) {
			t.Fatalf("restored %d messages of %d\n%s", len(got), len(orig), m.Log())
		}
		byDate := map[int64][]byte{}
		for _, o := range orig {
			byDate[o.InternalDate.Unix()] = s.Body(t, u, "INBOX", o.UID)
		}
		for _, g := range got {
			if want, ok := byDate[g.InternalDate.Unix()]; !ok || !bytes.Equal(want, s.Body(t, u, restored, g.UID)) {
				t.Errorf("restored UID %d (date %v) matches no original, or one restored before", g.UID, g.InternalDate)
			}
			delete(byDate, g.InternalDate.Unix())
		}
	})
}

// 100 files copied in parallel give exactly 100 messages.
func TestParallelUploads(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	m := test.Mount(t, s, u)
	src := t.TempDir()
	for i := range 100 {
		writeMessage(t, src, fmt.Sprintf("m%03d.eml", i), i)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := exec.Command("cp", filepath.Join(src, fmt.Sprintf("m%03d.eml", i)), m.Dir+"/INBOX/").CombinedOutput(); err != nil {
				errs <- fmt.Errorf("%v: %s", err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	stored := s.Messages(t, u, "INBOX")
	if len(stored) != 100 {
		t.Fatalf("%d messages on the server, want 100", len(stored))
	}
	subjects := map[string]bool{}
	for _, sm := range stored {
		body := s.Body(t, u, "INBOX", sm.UID)
		subjects[strings.SplitN(string(body), "\r\n", 3)[1]] = true
	}
	if len(subjects) != 100 {
		t.Errorf("%d distinct messages, want 100", len(subjects))
	}
}

// An upload over quota fails the close with EDQUOT and keeps the data in
// the spool, where the log says.
func TestUploadOverQuota(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUserWithQuota(t, test.Quota{StorageKiB: 1024, Messages: 1})
		seedSome(t, s, u, "INBOX", 1)
		m := test.Mount(t, s, u)
		src := t.TempDir()
		writeMessage(t, src, "over.eml", 9)
		out, err := exec.Command("cp", filepath.Join(src, "over.eml"), mailboxDir(m, s, "INBOX")+"/").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "quota") {
			t.Fatalf("cp over quota: %v %s\n%s", err, out, m.Log())
		}
		if n := len(s.Messages(t, u, "INBOX")); n != 1 {
			t.Errorf("%d messages on the server", n)
		}
		var spool string
		for _, line := range strings.Split(m.Log(), "\n") {
			if i := strings.Index(line, "spool="); i >= 0 && strings.Contains(line, "failed") {
				spool = strings.Fields(line[i+len("spool="):])[0]
			}
		}
		if data, err := os.ReadFile(spool); err != nil || !strings.Contains(string(data), "new message 9") {
			t.Errorf("spooled data at %q: %v\n%s", spool, err, m.Log())
		}
	})
}

// Flags travel with messages: rsync -aX and cp --preserve=xattr out of
// the mount and back into a new mailbox, and cp -a within the mount,
// recreate bytes, INTERNALDATE and flags; setfattr replaces a message's flags and refuses a malformed one.
func TestFlagsRoundTrip(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		s.Seed(t, u, "INBOX",
			test.Message{Body: []byte("Subject: a\r\n\r\na\r\n"), Flags: []string{`\Seen`, `\Flagged`, "$Label1"}, Date: time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)},
			test.Message{Body: []byte("Subject: b\r\n\r\nb\r\n"), Flags: []string{`\Answered`}, Date: time.Date(2021, 1, 2, 3, 4, 5, 0, time.UTC)})
		m := test.Mount(t, s, u)
		inbox := mailboxDir(m, s, "INBOX")
		rsyncBackup, cpBackup := t.TempDir(), t.TempDir()
		run(t, "rsync", "-aX", inbox+"/", rsyncBackup+"/")
		run(t, "sh", "-c", "cp --preserve=xattr,timestamps '"+inbox+"'/*.eml '"+cpBackup+"/'")
		for _, backup := range []string{rsyncBackup, cpBackup} {
			if got := getfattr(t, "user.imap.flags", filepath.Join(backup, "1.eml")); got != `\Seen \Flagged $Label1` && got != `\Flagged \Seen $Label1` {
				t.Errorf("flags of the copy out of the mount: %q", got)
			}
		}
		for _, copyWay := range []struct{ name, mailbox string }{{"rsync", "ViaRsync"}, {"cp", "ViaCp"}, {"cp within", "ViaCpWithin"}} {
			dest := s.Personal(copyWay.mailbox)
			run(t, "mkdir", mailboxDir(m, s, dest))
			switch copyWay.name {
			case "rsync":
				if out, err := exec.Command("rsync", "-aX", rsyncBackup+"/", mailboxDir(m, s, dest)+"/").CombinedOutput(); err != nil {
					t.Fatalf("rsync -aX: %v %s\n%s", err, out, m.Log())
				}
			case "cp":
				run(t, "sh", "-c", "cp --preserve=xattr,timestamps '"+cpBackup+"'/*.eml '"+mailboxDir(m, s, dest)+"/'")
			default:
				run(t, "sh", "-c", "cp -a '"+inbox+"'/*.eml '"+mailboxDir(m, s, dest)+"/'")
			}
			orig, got := s.Messages(t, u, "INBOX"), s.Messages(t, u, dest)
			if len(got) != len(orig) {
				t.Fatalf("%s: %d messages of %d\n%s", copyWay.name, len(got), len(orig), m.Log())
			}
			for i := range orig {
				if !got[i].InternalDate.Equal(orig[i].InternalDate) || strings.Join(got[i].Flags, " ") != strings.Join(orig[i].Flags, " ") ||
					!bytes.Equal(s.Body(t, u, dest, got[i].UID), s.Body(t, u, "INBOX", orig[i].UID)) {
					t.Errorf("%s: %+v, want %+v", copyWay.name, got[i], orig[i])
				}
			}
		}
		first := filepath.Join(inbox, "1.eml")
		run(t, "setfattr", "-n", "user.imap.flags", "-v", `\Draft $Other`, first)
		if got := s.Messages(t, u, "INBOX")[0].Flags; strings.Join(got, " ") != `$Other \Draft` {
			t.Errorf("flags after setfattr: %v", got)
		}
		if out := run(t, "getfattr", "--absolute-names", "--only-values", "-n", "user.imap.flags", first); out != `\Draft $Other` {
			t.Errorf("getfattr: %q", out)
		}
		if out, err := exec.Command("setfattr", "-n", "user.imap.flags", "-v", `bad(flag`, first).CombinedOutput(); err == nil || !strings.Contains(string(out), "Invalid argument") {
			t.Errorf("a malformed flag: %v %s", err, out)
		}
	})
}

// An upload cut off by the server going away fails the writer's close
// and keeps the data; once the server is back, closing the file again
// stores it, exactly once.
func TestUploadSurvivesServerLoss(t *testing.T) {
	t.Parallel() // waits for timeouts and stalls on servers of its own
	s := test.StartDovecot(t)
	u := s.NewUser(t)
	cacheHome := t.TempDir()
	// The timeout bounds the whole upload: it must leave room for 80 MB
	// under the race detector on a busy machine.
	m := test.MountCommand(t, []string{test.Imapfs(t), "-f", "--timeout", "20s", "--ca-file", s.TLS.CAFile, s.URL(u, true)},
		[]string{"IMAPFS_PASSWORD=" + u.Password, "XDG_CACHE_HOME=" + cacheHome})
	spool := filepath.Join(cacheHome, "imapfs", "spool")
	src := t.TempDir()
	line := []byte("a line of a large message that takes a while to upload.........\r\n")
	body := append([]byte("Subject: big upload\r\n\r\n"), bytes.Repeat(line, 80<<20/len(line))...)
	os.WriteFile(filepath.Join(src, "big.eml"), body, 0o644)
	target := filepath.Join(m.Dir, "INBOX", "big.eml")

	done := make(chan error, 1)
	go func() {
		out, err := exec.Command("cp", filepath.Join(src, "big.eml"), target).CombinedOutput()
		if err != nil {
			err = fmt.Errorf("%v: %s", err, out)
		}
		done <- err
	}()
	// Stop the server once the whole message is in the spool, that is
	// while cp's close uploads it.
	for spooled := false; !spooled; {
		files, _ := filepath.Glob(filepath.Join(spool, "*"))
		for _, f := range files {
			if info, err := os.Stat(f); err == nil && info.Size() == int64(len(body)) {
				spooled = true
			}
		}
		select {
		case err := <-done:
			t.Fatalf("cp ended (%v) before the test could stop the server mid-upload", err)
		default:
		}
		time.Sleep(time.Millisecond)
	}
	s.Stop(t)
	if err := <-done; err == nil {
		t.Fatalf("cp succeeded although the server stopped during the upload\n%s", m.Log())
	}
	s.Restart(t)
	if info, err := os.Stat(target); err != nil || info.Size() != int64(len(body)) {
		t.Fatalf("the pending file after a failed upload: %v %v\n%s", info, err, m.Log())
	}
	if !strings.Contains(m.Log(), "spool="+spool) {
		t.Errorf("the log does not say where the data is kept:\n%s", m.Log())
	}
	// The mount reconnects (after its backoff) before the retry, so that
	// the retry's time is the upload's alone.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if err := exec.Command("ls", filepath.Join(m.Dir, "INBOX")).Run(); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the mount did not reconnect: %v\n%s", err, m.Log())
		}
	}
	// Opening and closing the file tries the upload again. The first
	// attempt may have reached the server before it stopped: the retry
	// must then find it instead of storing it twice.
	run(t, "sh", "-c", ": >> '"+target+"'")
	stored := s.Messages(t, u, "INBOX")
	if len(stored) != 1 || !bytes.Equal(s.Body(t, u, "INBOX", stored[0].UID), body) {
		t.Fatalf("server holds %d messages after the retry\n%s", len(stored), m.Log())
	}
}

// Dovecot refuses a login beyond its per-account connection limit (NO
// [LIMIT]); three mounts of one account that each want more connections
// than they may have then work with those they have: no copy fails with
// EDQUOT or any other error, and every message copied is stored once.
// (Each mount is used once first, so that each has a connection: a pool
// keeps its connections, and one that has none while the others hold
// every one the server allows waits until they are closed.)
func TestConnectionLimit(t *testing.T) {
	t.Parallel() // waits for timeouts and stalls on servers of its own
	s := test.StartDovecotWith(t, test.DovecotOptions{MaxUserIPConnections: 4})
	u := s.NewUser(t)
	boxes := []string{"A", "B", "C", "D"}
	for _, b := range boxes {
		s.CreateMailbox(t, u, b)
		seedSome(t, s, u, b, 3)
	}
	var mounts []*test.Mounted
	for range 3 {
		m := test.Mount(t, s, u)
		run(t, "ls", m.Dir)
		mounts = append(mounts, m)
	}
	// Bounded, so that a mount left without a connection fails the test
	// rather than hang it.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	src := t.TempDir()
	type copied struct {
		box  string
		body []byte
		err  error
	}
	var mu sync.Mutex
	var copies []copied
	var wg sync.WaitGroup
	for mi, m := range mounts {
		for _, b := range boxes {
			wg.Go(func() {
				for i := range 6 {
					name := fmt.Sprintf("m%d-%s-%d.eml", mi, b, i)
					body := writeMessage(t, src, name, mi*1000+i)
					out, err := exec.CommandContext(ctx, "cp", filepath.Join(src, name), filepath.Join(m.Dir, b)+"/").CombinedOutput()
					if err != nil {
						err = fmt.Errorf("%v: %s", err, out)
					}
					mu.Lock()
					copies = append(copies, copied{b, body, err})
					mu.Unlock()
				}
			})
			wg.Go(func() {
				for range 3 {
					exec.CommandContext(ctx, "grep", "-r", "-c", "Subject", filepath.Join(m.Dir, b)).Run()
				}
			})
		}
	}
	wg.Wait()
	stored := map[string]int{}
	for _, b := range boxes {
		for _, body := range s.Bodies(t, u, b) {
			stored[b+"\x00"+string(body)]++
		}
	}
	for _, c := range copies {
		n := stored[c.box+"\x00"+string(c.body)]
		switch {
		case c.err != nil && n > 0:
			t.Errorf("a copy to %s reported failed (%v) is stored %d times", c.box, c.err, n)
		case c.err != nil:
			t.Errorf("a copy to %s failed: %v", c.box, c.err)
		case n != 1:
			t.Errorf("a copy to %s that succeeded is stored %d times", c.box, n)
		}
	}
	for _, m := range mounts {
		t.Logf("refused logins: %d", strings.Count(m.Log(), "LIMIT"))
	}
	if t.Failed() {
		for _, m := range mounts {
			t.Log(m.Log())
		}
	}
}

// rsync --fsync syncs each file under its temporary (hidden) name before
// it renames it: an fsync makes the spool durable and stores nothing, so
// each message is stored once, at the rename, with its date.
func TestRsyncRestoreFsync(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	seedSome(t, s, u, "INBOX", 3)
	m := test.Mount(t, s, u)
	backup := t.TempDir()
	run(t, "rsync", "-a", mailboxDir(m, s, "INBOX")+"/", backup+"/")
	run(t, "mkdir", mailboxDir(m, s, "Restored"))
	if out, err := exec.Command("rsync", "-a", "--fsync", backup+"/", mailboxDir(m, s, "Restored")+"/").CombinedOutput(); err != nil {
		t.Errorf("rsync --fsync: %v %s\n%s", err, out, m.Log())
	}
	orig, got := s.Messages(t, u, "INBOX"), s.Messages(t, u, "Restored")
	if len(got) != len(orig) {
		t.Fatalf("restored %d messages of %d\n%s", len(got), len(orig), m.Log())
	}
	for i := range got {
		if !got[i].InternalDate.Equal(orig[i].InternalDate) || !bytes.Equal(s.Body(t, u, "Restored", got[i].UID), s.Body(t, u, "INBOX", orig[i].UID)) {
			t.Errorf("restored message %d differs from the original (date %v, want %v)", i, got[i].InternalDate, orig[i].InternalDate)
		}
	}
}

// A name the server's message holds is not a place to write: cp onto it,
// or a shell's redirection, fails with "File exists" (EEXIST) and the
// message stays as it was. (cp -n skips such a name, as it skips any
// existing file.)
func TestCopyOntoTakenName(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	seedSome(t, s, u, "INBOX", 1)
	before := s.Messages(t, u, "INBOX")
	m := test.Mount(t, s, u)
	taken := filepath.Join(m.Dir, "INBOX", fmt.Sprintf("%d.eml", before[0].UID))
	src := t.TempDir()
	writeMessage(t, src, filepath.Base(taken), 7)
	if out, err := exec.Command("cp", filepath.Join(src, filepath.Base(taken)), taken).CombinedOutput(); err == nil || !strings.Contains(string(out), "File exists") {
		t.Errorf("cp onto %s: %v, %s; want File exists", filepath.Base(taken), err, out)
	}
	if out, err := exec.Command("sh", "-c", "echo hello > "+taken).CombinedOutput(); err == nil || !strings.Contains(string(out), "File exists") {
		t.Errorf("> %s: %v, %s; want File exists", filepath.Base(taken), err, out)
	}
	after := s.Messages(t, u, "INBOX")
	if len(after) != 1 || !bytes.Equal(s.Body(t, u, "INBOX", after[0].UID), s.Body(t, u, "INBOX", before[0].UID)) {
		t.Errorf("server holds %+v, want the one message as it was", after)
	}
}
