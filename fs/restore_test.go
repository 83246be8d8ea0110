package fs_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"imapfs/test"
)

// A restore can be run again: a message whose bytes the mailbox holds
// already is not stored a second time, whatever the file is called and
// however the earlier run ended.

// writeBackup writes n messages into a new directory, as a backup of a
// mailbox holds them (each with its date as mtime), with lineEnd ending
// their lines and every third without a Message-ID, and returns the
// directory and the messages as a server stores them (CRLF).
func writeBackup(t *testing.T, n int, lineEnd string) (string, [][]byte) {
	t.Helper()
	dir := t.TempDir()
	var bodies [][]byte
	for i := range n {
		id := fmt.Sprintf("Message-ID: <%d.restore@example.com>\n", i)
		if i%3 == 2 {
			id = ""
		}
		text := fmt.Sprintf("From: r%d@example.com\n%sSubject: restore %d\n\nbody %d\n%s\n", i, id, i, i, strings.Repeat("y", 300*i))
		body := []byte(strings.ReplaceAll(text, "\n", lineEnd))
		name := filepath.Join(dir, fmt.Sprintf("m%02d.eml", i))
		if err := os.WriteFile(name, body, 0o644); err != nil {
			t.Fatal(err)
		}
		date := time.Date(2023, 5, 1+i, 10, 20, 30, 0, time.UTC)
		if err := os.Chtimes(name, date, date); err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, bytes.ReplaceAll(bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n")))
	}
	return dir, bodies
}

// holdsOnce checks that the server holds each of want exactly once and
// nothing else, and returns its messages.
func holdsOnce(t *testing.T, s *test.Server, u test.User, mailbox string, want [][]byte, log func() string) []test.StoredMessage {
	t.Helper()
	stored := s.Messages(t, u, mailbox)
	count := map[string]int{}
	for _, sm := range stored {
		count[string(s.Body(t, u, mailbox, sm.UID))]++
	}
	for i, w := range want {
		if count[string(w)] != 1 {
			t.Errorf("message %d is stored %d times", i, count[string(w)])
		}
		delete(count, string(w))
	}
	if len(count) > 0 || t.Failed() {
		t.Fatalf("the server holds %d messages for %d (%d unexpected)\n%s", len(stored), len(want), len(count), log())
	}
	return stored
}

func uidsOf(msgs []test.StoredMessage) []uint32 {
	var uids []uint32
	for _, m := range msgs {
		uids = append(uids, m.UID)
	}
	return uids
}

// rsync -a into an empty mailbox, run again: the second run stores
// nothing, and ls lists each message once under its UID.
func TestRsyncRestoreTwice(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		backup, want := writeBackup(t, 12, "\r\n")
		m := test.Mount(t, s, u)
		box := mailboxDir(m, s, s.Personal("Restored"))
		run(t, "mkdir", box)
		run(t, "rsync", "-a", backup+"/", box+"/")
		first := holdsOnce(t, s, u, s.Personal("Restored"), want, m.Log)
		run(t, "rsync", "-a", backup+"/", box+"/")
		second := holdsOnce(t, s, u, s.Personal("Restored"), want, m.Log)
		if !slices.Equal(uidsOf(first), uidsOf(second)) {
			t.Errorf("the second run changed the UIDs: %v, then %v", uidsOf(first), uidsOf(second))
		}
		for i, sm := range second {
			if want := time.Date(2023, 5, 1+i, 10, 20, 30, 0, time.UTC); !sm.InternalDate.Equal(want) {
				t.Errorf("UID %d: INTERNALDATE %v, want %v", sm.UID, sm.InternalDate, want)
			}
		}
		entries, err := os.ReadDir(box)
		if err != nil {
			t.Fatal(err)
		}
		var names, wantNames []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		for _, sm := range second {
			wantNames = append(wantNames, fmt.Sprintf("%d.eml", sm.UID))
		}
		slices.Sort(wantNames)
		if !slices.Equal(names, wantNames) {
			t.Errorf("ls shows %v, want %v", names, wantNames)
		}
	})
}

// rsyncKilled runs rsync -a slowly and kills it (SIGKILL, with its
// children) as soon as until says so.
func rsyncKilled(t *testing.T, src, dst string, until func() bool) {
	t.Helper()
	cmd := exec.Command("rsync", "-a", "--bwlimit=2", src+"/", dst+"/")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for !until() {
		select {
		case err := <-exited:
			t.Fatalf("rsync ended (%v) before it could be interrupted", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
}

// An rsync killed half-way and run again, twice over, leaves each message
// stored once: the first run killed once half of the messages are stored,
// the third once half of them were found stored already.
func TestRsyncRestoreInterrupted(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		backup, want := writeBackup(t, 10, "\r\n")
		m := test.Mount(t, s, u)
		restored := s.Personal("Restored")
		box := mailboxDir(m, s, restored)
		run(t, "mkdir", box)
		rsyncKilled(t, backup, box, func() bool { return len(s.Messages(t, u, restored)) >= 5 })
		run(t, "rsync", "-a", backup+"/", box+"/")
		holdsOnce(t, s, u, restored, want, m.Log)
		found := func() int {
			log, _ := os.ReadFile(m.LogFile)
			return strings.Count(string(log), "holds the message already")
		}
		before := found()
		rsyncKilled(t, backup, box, func() bool { return found() >= before+5 })
		run(t, "rsync", "-a", backup+"/", box+"/")
		holdsOnce(t, s, u, restored, want, m.Log)
	})
}

// cp of the same files twice, plain (the date is the upload's) or with
// -p, stores each message once; so do files with Unix line ends, which are
// stored with CRLF.
func TestCopyTwice(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		for _, c := range []struct {
			name, lineEnd string
			cp            []string
		}{
			{"cp", "\r\n", []string{"cp"}},
			{"cp -p", "\r\n", []string{"cp", "-p"}},
			{"LF", "\n", []string{"cp"}},
			{"LF cp -p", "\n", []string{"cp", "-p"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				u := s.NewUser(t)
				backup, want := writeBackup(t, 6, c.lineEnd)
				files, _ := filepath.Glob(filepath.Join(backup, "*.eml"))
				m := test.Mount(t, s, u)
				inbox := mailboxDir(m, s, "INBOX")
				args := append(append(c.cp[1:], files...), inbox+"/")
				run(t, c.cp[0], args...)
				first := holdsOnce(t, s, u, "INBOX", want, m.Log)
				run(t, c.cp[0], args...)
				second := holdsOnce(t, s, u, "INBOX", want, m.Log)
				if !slices.Equal(uidsOf(first), uidsOf(second)) {
					t.Errorf("the second cp changed the UIDs: %v, then %v", uidsOf(first), uidsOf(second))
				}
			})
		}
	})
}

// Two messages of the same size, date and Message-ID but other bytes are
// both stored, once each, however often they are copied.
func TestSameSizeAndDateBothStored(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		src := t.TempDir()
		date := time.Date(2022, 2, 2, 2, 2, 2, 0, time.UTC)
		var want [][]byte
		for _, name := range []string{"a", "b"} {
			body := []byte("Message-ID: <same@example.com>\r\nSubject: twin\r\n\r\nversion " + name + "\r\n")
			path := filepath.Join(src, name+".eml")
			os.WriteFile(path, body, 0o644)
			os.Chtimes(path, date, date)
			want = append(want, body)
		}
		m := test.Mount(t, s, u)
		inbox := mailboxDir(m, s, "INBOX")
		for range 2 {
			run(t, "cp", "-p", filepath.Join(src, "a.eml"), filepath.Join(src, "b.eml"), inbox+"/")
		}
		for _, sm := range holdsOnce(t, s, u, "INBOX", want, m.Log) {
			if !sm.InternalDate.Equal(date) {
				t.Errorf("UID %d: INTERNALDATE %v, want %v", sm.UID, sm.InternalDate, date)
			}
		}
	})
}

// A message holding NUL bytes (sent as BINARY's literal8) is found as
// BINARY gives it back, not stored again. (One whose MIME part says
// Content-Transfer-Encoding: binary is stored converted to base64 by both
// servers: it cannot be recognised, and is stored again.)
func TestCopyTwiceWithNUL(t *testing.T) {
	body := []byte("Message-ID: <nul@example.com>\nSubject: binary\n\nzero \x00 byte\r\nand\nmore\x00\n")
	src := filepath.Join(t.TempDir(), "binary.eml")
	if err := os.WriteFile(src, body, 0o644); err != nil {
		t.Fatal(err)
	}
	want := bytes.ReplaceAll(bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		m := test.Mount(t, s, u)
		for range 2 {
			run(t, "cp", src, mailboxDir(m, s, "INBOX")+"/")
		}
		holdsOnce(t, s, u, "INBOX", [][]byte{want}, m.Log)
	})
}

// An APPEND the server stored but whose answer was unclear fails cp with
// EIO; a second cp of the same file (a new file, a new upload) finds the
// message there instead of storing it again.
func TestUploadRetriedByNewCopyStoredOnce(t *testing.T) {
	s := test.StartScripted(t, test.Variation{BrokenAppendUID: true})
	m := s.Mount(t)
	src := filepath.Join(t.TempDir(), "new.eml")
	body := []byte("Message-ID: <retried@example.com>\r\nSubject: retried\r\n\r\nonce\r\n")
	if err := os.WriteFile(src, body, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("cp", src, filepath.Join(m.Dir, "INBOX", "first.eml")).CombinedOutput()
	t.Logf("first cp: %v %s", err, out)
	run(t, "cp", src, filepath.Join(m.Dir, "INBOX", "second.eml"))
	if got := s.Messages(t, "INBOX"); len(got) != 1 || !bytes.Equal(s.Body(t, "INBOX", got[0].UID), body) {
		t.Fatalf("the server holds %d messages, want the one\n%s", len(got), m.Log())
	}
}

// The look for a message costs one UID SEARCH per upload, not a NOOP
// before each too: one after another on one connection, the uploads of
// the same mount need none, since each APPEND brings that connection's
// view up to date. (A NOOP may still come where the connection sat idle
// longer than the listing TTL.)
func TestUploadLookCostsOneSearch(t *testing.T) {
	s := test.StartScripted(t, test.Variation{})
	m := s.Mount(t)
	src := t.TempDir()
	const n = 10
	for i := range n {
		writeMessage(t, src, fmt.Sprintf("m%02d.eml", i), i)
	}
	for i := range n {
		run(t, "cp", filepath.Join(src, fmt.Sprintf("m%02d.eml", i)), filepath.Join(m.Dir, "INBOX")+"/")
	}
	if got := s.Messages(t, "INBOX"); len(got) != n {
		t.Fatalf("the server holds %d messages, want %d\n%s", len(got), n, m.Log())
	}
	// Per session, the command before each UID SEARCH.
	last := map[string]string{}
	searches, afterNoop := 0, 0
	for _, line := range strings.Split(s.Transcript(1<<20), "\n") {
		session, rest, _ := strings.Cut(line, " C: ")
		fields := strings.Fields(rest)
		if len(fields) < 2 {
			continue
		}
		cmd := strings.ToUpper(strings.Join(fields[1:min(3, len(fields))], " "))
		if strings.HasPrefix(cmd, "UID SEARCH") {
			searches++
			if last[session] == "NOOP" {
				afterNoop++
			}
		}
		last[session] = strings.ToUpper(fields[1])
	}
	if searches != n || afterNoop > n/2 {
		t.Errorf("%d UID SEARCH for %d uploads, %d of them after a NOOP\n%s", searches, n, afterNoop, s.Transcript(8000))
	}
	// STATUS only for the state of every mailbox that comes with the
	// folder list (one mailbox here, and no LIST-STATUS), none of an
	// upload's own.
	lists, statuses := 0, 0
	for _, c := range s.Commands() {
		switch {
		case strings.HasPrefix(c, "LIST "):
			lists++
		case strings.HasPrefix(c, "STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY"):
			statuses++
		case strings.HasPrefix(c, "STATUS"):
			t.Errorf("an upload asked STATUS: %s", c)
		}
	}
	if statuses > lists {
		t.Errorf("%d STATUS of INBOX for %d LIST: uploads asked STATUS", statuses, lists)
	}
}

// The same message copied by several processes at once is stored once:
// the uploads of one message into one mailbox look and store in turn.
func TestIdenticalCopiesAtOnce(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	m := test.Mount(t, s, u)
	src := t.TempDir()
	body := writeMessage(t, src, "same.eml", 1)
	other := writeMessage(t, src, "other.eml", 2)
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			name := "same.eml"
			if i == 7 {
				name = "other.eml"
			}
			out, err := exec.Command("cp", filepath.Join(src, name), filepath.Join(m.Dir, "INBOX", fmt.Sprintf("copy%d.eml", i))).CombinedOutput()
			if err != nil {
				err = fmt.Errorf("%v: %s", err, out)
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	holdsOnce(t, s, u, "INBOX", [][]byte{body, other}, m.Log)
}

// A message removed (through the mount or by another client) and then
// copied in again is stored again: the look does not take the removed
// one, which a connection may still show, for the message.
func TestCopyAfterRemoveStoresAgain(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		backup, want := writeBackup(t, 3, "\r\n")
		files, _ := filepath.Glob(filepath.Join(backup, "*.eml"))
		m := test.Mount(t, s, u)
		inbox := mailboxDir(m, s, "INBOX")
		run(t, "cp", append(files, inbox+"/")...)
		first := holdsOnce(t, s, u, "INBOX", want, m.Log)
		run(t, "rm", filepath.Join(inbox, fmt.Sprintf("%d.eml", first[1].UID)))
		run(t, "cp", append(files, inbox+"/")...)
		second := holdsOnce(t, s, u, "INBOX", want, m.Log)
		if second[0].UID != first[0].UID || second[1].UID != first[2].UID || second[2].UID <= first[2].UID {
			t.Errorf("UIDs %v after the removal and the second cp, were %v", uidsOf(second), uidsOf(first))
		}
		// Removed by another client, unknown to the mount's connections.
		other := s.Session(t, u)
		for _, cmd := range []string{"SELECT INBOX", fmt.Sprintf("UID STORE %d +FLAGS.SILENT (\\Deleted)", second[0].UID), fmt.Sprintf("UID EXPUNGE %d", second[0].UID)} {
			if _, _, err := other.Run(cmd); err != nil {
				t.Fatal(err)
			}
		}
		run(t, "cp", append(files, inbox+"/")...)
		third := holdsOnce(t, s, u, "INBOX", want, m.Log)
		if third[2].UID <= second[2].UID {
			t.Errorf("UIDs %v after another client's removal and a third cp, were %v", uidsOf(third), uidsOf(second))
		}
	})
}
