package fs_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"imapfs/test"
)

// waitStored waits until the server holds n messages in mailbox (an
// upload at the release of the last handle ends after close returns) and
// returns them; more, or fewer after a while, fail the test.
func waitStored(t *testing.T, s *test.Server, u test.User, mailbox string, n int, log func() string) []test.StoredMessage {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		stored := s.Messages(t, u, mailbox)
		if len(stored) > n || len(stored) == n || time.Now().After(deadline) {
			if len(stored) != n {
				t.Fatalf("%s holds %d messages, want %d\n%s", mailbox, len(stored), n, log())
			}
			return stored
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A file written through a descriptor that other processes share, or
// while another process opens it, is stored once, complete, when its
// last writer is done: not at the first close of a copy.
func TestUploadSharedDescriptor(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		m := test.Mount(t, s, u)
		inbox := mailboxDir(m, s, "INBOX")
		src := t.TempDir()
		head := "From: a@example.com\r\nSubject: in two parts\r\n\r\n"
		os.WriteFile(filepath.Join(src, "head.txt"), []byte(head), 0o644)
		for i, c := range []struct{ name, script string }{
			// Each cat closes its copy of the shell's descriptor.
			{"group", `{ cat "$1"; cat "$2"; } > "$3"`},
			// cat opens, reads and closes the file between two writes.
			{"reader", `exec 3> "$3"; cat "$1" >&3; cat "$3" > "$4"; cat "$2" >&3; exec 3>&-`},
			// A second process opens it for writing and closes it.
			{"second writer", `exec 3> "$3"; cat "$1" >&3; sh -c ': >> "$1"' - "$3"; cat "$2" >&3; exec 3>&-`},
			// The opener closes first; a child it started writes on.
			{"child writes last", `exec 3> "$3"; cat "$1" >&3; (sleep 0.5; cat "$2" >&3) & exec 3>&-; wait`},
		} {
			// Each its own body: the same bytes again would be found
			// stored, not stored again.
			body := fmt.Sprintf("the body of %s, written by a second command\r\n", c.name)
			os.WriteFile(filepath.Join(src, "body.txt"), []byte(body), 0o644)
			target := filepath.Join(inbox, fmt.Sprintf("new%d.eml", i))
			read := filepath.Join(src, fmt.Sprintf("read%d", i))
			out, err := exec.Command("sh", "-c", c.script, "-", filepath.Join(src, "head.txt"), filepath.Join(src, "body.txt"), target, read).CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v: %s\n%s", c.name, err, out, m.Log())
			}
			stored := waitStored(t, s, u, "INBOX", i+1, m.Log)
			if got := s.Body(t, u, "INBOX", stored[i].UID); string(got) != head+body {
				t.Errorf("%s: stored %q, want %q", c.name, got, head+body)
			}
			if c.name == "reader" {
				if got, _ := os.ReadFile(read); string(got) != head {
					t.Errorf("the reader read %q, want %q", got, head)
				}
			}
		}
	})
}

// closeSyscall is close(2)'s number in /proc/PID/syscall.
var closeSyscall = map[string]string{"amd64": "3", "arm64": "57"}[runtime.GOARCH]

// An ls of a mailbox does not wait for an upload into it: while cp's
// close is still storing a large message, ls -l lists the directory
// (the pending file among it) and returns.
func TestListingDuringUpload(t *testing.T) {
	if closeSyscall == "" {
		t.Fatalf("close(2)'s number on %s is unknown to this test", runtime.GOARCH)
	}
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	seedSome(t, s, u, "INBOX", 2)
	m := test.Mount(t, s, u)
	inbox := mailboxDir(m, s, "INBOX")
	spool := filepath.Join(m.Home, "cache", "imapfs", "spool")
	src := filepath.Join(t.TempDir(), "big.eml")
	line := []byte("a line of a large message that takes a while to upload.........\r\n")
	body := append([]byte("Subject: big upload\r\n\r\n"), bytes.Repeat(line, 80<<20/len(line))...)
	os.WriteFile(src, body, 0o644)

	cp := exec.Command("cp", src, inbox+"/")
	var cpOut bytes.Buffer
	cp.Stdout, cp.Stderr = &cpOut, &cpOut
	if err := cp.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cp.Wait() }()
	// The upload runs once the whole message is in the spool and cp is in
	// close(2) of the file.
	for uploading := false; !uploading; {
		files, _ := filepath.Glob(filepath.Join(spool, "*"))
		for _, f := range files {
			if info, err := os.Stat(f); err == nil && info.Size() == int64(len(body)) {
				sc, _ := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", cp.Process.Pid))
				uploading = strings.HasPrefix(string(sc), closeSyscall+" ")
			}
		}
		select {
		case err := <-done:
			t.Fatalf("cp ended (%v: %s) before the test saw its upload run", err, cpOut.Bytes())
		default:
		}
		time.Sleep(time.Millisecond)
	}
	listing, lsErr := exec.Command("ls", "-l", inbox).CombinedOutput()
	select {
	case err := <-done:
		t.Fatalf("ls returned only after the upload ended (cp: %v); it waited for it (ls: %v: %s)", err, lsErr, listing)
	default:
	}
	if lsErr != nil || !strings.Contains(string(listing), "big.eml") || !strings.Contains(string(listing), "1.eml") {
		t.Errorf("ls during the upload: %v\n%s", lsErr, listing)
	}
	if err := <-done; err != nil {
		t.Fatalf("cp: %v: %s\n%s", err, cpOut.Bytes(), m.Log())
	}
	stored := s.Messages(t, u, "INBOX")
	if len(stored) != 3 || !bytes.Equal(s.Body(t, u, "INBOX", stored[2].UID), body) {
		t.Fatalf("server holds %d messages after the upload\n%s", len(stored), m.Log())
	}
}

// A file never stored (a hidden name never renamed, as mv from another
// filesystem leaves .x.eml; an empty file) is named in the log at
// unmount with its spool file, which keeps its data.
func TestPendingKeptAtUnmount(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		m := test.Mount(t, s, u)
		inbox := mailboxDir(m, s, "INBOX")
		src := filepath.Join(t.TempDir(), ".x.eml")
		data := []byte("Subject: hidden\r\n\r\nmoved in under a hidden name\r\n")
		os.WriteFile(src, data, 0o644)
		run(t, "mv", src, inbox+"/")
		run(t, "touch", filepath.Join(inbox, "empty.eml"))
		m.Unmount(t)
		if n := len(s.Messages(t, u, "INBOX")); n != 0 {
			t.Errorf("the server holds %d messages", n)
		}
		spools := map[string]string{}
		for _, l := range strings.Split(m.Log(), "\n") {
			file, spool := logValue(l, "file"), logValue(l, "spool")
			if strings.Contains(l, "not stored") && file != "" && spool != "" {
				spools[file] = spool
			}
		}
		for file, want := range map[string][]byte{"/INBOX/.x.eml": data, "/INBOX/empty.eml": nil} {
			spool, ok := spools[file]
			if !ok {
				t.Errorf("the log does not name %s and its spool file\n%s", file, m.Log())
				continue
			}
			if got, err := os.ReadFile(spool); err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: spool file %s holds %q (%v), want %q", file, spool, got, err, want)
			}
		}
	})
}

// logValue is the value of key in a log line ("key=value").
func logValue(line, key string) string {
	i := strings.Index(line, " "+key+"=")
	if i < 0 {
		return ""
	}
	return strings.Fields(line[i+len(key)+2:])[0]
}

// A mount that ends without storing a new file (killed here) leaves it in
// the spool, and the next mount names it in the log.
func TestSpoolReportedAfterCrash(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	cacheHome := t.TempDir()
	mount := func() *test.Mounted {
		return test.MountCommand(t, []string{test.Imapfs(t), "-f", "--ca-file", s.TLS.CAFile, s.URL(u, true)},
			[]string{"IMAPFS_PASSWORD=" + u.Password, "XDG_CACHE_HOME=" + cacheHome})
	}
	m := mount()
	data := []byte("Subject: never renamed\r\n\r\nwritten before the crash\r\n")
	if err := os.WriteFile(filepath.Join(mailboxDir(m, s, "INBOX"), ".x.eml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	killMount(t, m)
	m.Unmount(t)
	again := mount()
	var spool string
	for _, l := range strings.Split(again.Log(), "\n") {
		if strings.Contains(l, "not stored") {
			spool = logValue(l, "spool")
		}
	}
	if got, err := os.ReadFile(spool); err != nil || !bytes.Equal(got, data) {
		t.Errorf("the spool file the log names (%q) holds %q (%v)\n%s", spool, got, err, again.Log())
	}
}

// killMount kills the imapfs process serving m, as a crash would.
func killMount(t *testing.T, m *test.Mounted) {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmdline, _ := os.ReadFile(p)
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if len(args) > 1 && filepath.Base(args[0]) == "imapfs" && args[len(args)-1] == m.Dir {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no imapfs process serves %s", m.Dir)
}
