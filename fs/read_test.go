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

func TestMain(m *testing.M) { test.Main(m) }

// run runs a real tool and returns its output, failing the test on error.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// noneSeen checks that reading through the mount marked nothing \Seen.
func noneSeen(t *testing.T, s *test.Server, u test.User, mailbox string) {
	t.Helper()
	for _, sm := range s.Messages(t, u, mailbox) {
		if slices.Contains(sm.Flags, `\Seen`) {
			t.Errorf("UID %d of %s became \\Seen by reading it", sm.UID, mailbox)
		}
	}
}

func seedSome(t *testing.T, s *test.Server, u test.User, mailbox string, n int) []uint32 {
	var msgs []test.Message
	for i := range n {
		msgs = append(msgs, test.Message{
			Body:  []byte(fmt.Sprintf("From: a%d@example.com\r\nSubject: hello %d\r\n\r\nbody %d\r\n%s", i, i, i, strings.Repeat("x", i*1000))),
			Date:  time.Date(2024, 3, 1+i, 12, 0, 0, 0, time.UTC),
			Flags: []string{`\Flagged`},
		})
	}
	return s.Seed(t, u, mailbox, msgs...)
}

// ls -l of the mailboxes fetches none of their listings: each directory's mtime comes from the state of every mailbox,
// fetched at once.
func TestLsRootFetchesNoListing(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	for _, name := range []string{"A", "B", "C"} {
		s.CreateMailbox(t, u, name)
		seedSome(t, s, u, name, 3)
	}
	s.CreateMailbox(t, u, "Empty")
	m := test.Mount(t, s, u)
	run(t, "ls", "-l", "--time-style=+%s", m.Dir)
	shown, err := os.Stat(filepath.Join(m.Dir, "Empty"))
	if err != nil {
		t.Fatal(err)
	}
	// Mail arriving in a mailbox that was empty when it was looked at
	// moves its directory's mtime.
	s.Seed(t, u, "Empty", test.Message{Body: []byte("Subject: new\r\n\r\nnew\r\n")})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		info, err := os.Stat(filepath.Join(m.Dir, "Empty"))
		if err == nil && info.ModTime().After(shown.ModTime()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the mtime of Empty stays %v after mail arrived (%v)", info.ModTime(), err)
		}
	}
	stats := unmountStats(t, m)
	if stats["listings"] != "0" {
		t.Errorf("ls -l fetched %s listings (want 0)", stats["listings"])
	}
}

// ls, stat and cat on a real mount show exactly what the server holds,
// and reading sets no \Seen.
func TestListAndRead(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		nested := s.Personal("Work", "Büro")
		s.CreateMailbox(t, u, s.Personal("Work"))
		s.CreateMailbox(t, u, nested)
		seedSome(t, s, u, "INBOX", 3)
		seedSome(t, s, u, nested, 2)
		m := test.Mount(t, s, u)

		root := run(t, "ls", m.Dir)
		if !strings.Contains(root, "INBOX") {
			t.Fatalf("ls root: %q\n%s", root, m.Log())
		}
		// A mailbox directory's mtime is the same before its listing is
		// fetched as after.
		nestedDir := mailboxDir(m, s, nested)
		before, err := os.Stat(nestedDir)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if info, err := os.Stat(nestedDir); err != nil || !info.ModTime().Equal(before.ModTime()) {
				t.Errorf("mtime of %s after its listing: %v, before %v (%v)", nested, info.ModTime(), before.ModTime(), err)
			}
		}()
		for _, mailbox := range []string{"INBOX", nested} {
			dir := filepath.Join(m.Dir, filepath.Join(strings.Split(mailbox, s.Delimiter)...))
			stored := s.Messages(t, u, mailbox)
			var want []string
			for _, sm := range stored {
				want = append(want, fmt.Sprintf("%d.eml", sm.UID))
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatalf("readdir %s: %v\n%s", dir, err, m.Log())
			}
			var got []string
			for _, e := range entries {
				if !e.IsDir() {
					got = append(got, e.Name())
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s lists %v, server has %v", mailbox, got, want)
			}
			for _, sm := range stored {
				path := filepath.Join(dir, fmt.Sprintf("%d.eml", sm.UID))
				info, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if info.Size() != sm.Size || !info.ModTime().Equal(sm.InternalDate) || info.Mode().Perm() != 0o600 {
					t.Errorf("%s: size %d mtime %v mode %v; server size %d date %v", path, info.Size(), info.ModTime(), info.Mode(), sm.Size, sm.InternalDate)
				}
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if body := s.Body(t, u, mailbox, sm.UID); !bytes.Equal(data, body) {
					t.Errorf("%s: read %d bytes differing from the server's %d", path, len(data), len(body))
				}
			}
		}
		noneSeen(t, s, u, "INBOX")
	})
}

// A message larger than a block is read in 1 MiB windows with partial
// fetches: the bytes are exact, each window is fetched once, and a read
// in the middle fetches only the window it needs.
func TestLargeMessage(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		line := []byte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.,\r\n")
		body := append([]byte("Subject: large\r\n\r\n"), bytes.Repeat(line, 3*1024*1024/len(line)+100)...)
		uid := s.Seed(t, u, "INBOX", test.Message{Body: body})[0]
		path := func(m *test.Mounted) string {
			return filepath.Join(m.Dir, "INBOX", fmt.Sprintf("%d.eml", uid))
		}

		m := test.Mount(t, s, u)
		out := run(t, "dd", "if="+path(m), "bs=4096", "skip=600", "count=2", "status=none")
		if want := body[600*4096 : 602*4096]; out != string(want) {
			t.Errorf("dd from the middle differs")
		}
		if stats := unmountStats(t, m); stats["body_fetches"] != "1" {
			t.Errorf("a read in the middle fetched %s windows", stats["body_fetches"])
		}

		m = test.Mount(t, s, u)
		data, err := os.ReadFile(path(m))
		if err != nil || !bytes.Equal(data, body) {
			t.Fatalf("read %d bytes, %v; want %d exact bytes", len(data), err, len(body))
		}
		if stats := unmountStats(t, m); stats["body_fetches"] != "4" {
			t.Errorf("%d bytes read in %s windows, want 4", len(body), stats["body_fetches"])
		}
	})
}

// A message another client expunges while it is being read is never
// returned short as if it were whole: the read fails (ESTALE or EIO), and
// no short or empty block is kept, in memory or on disk, to be served
// later as the message's end.
func TestReadOfExpungedMessage(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	// Lines that differ, so that a block served at the wrong offset shows.
	var b bytes.Buffer
	b.WriteString("Subject: large\r\n\r\n")
	for i := 0; b.Len() < 3_400_000; i++ {
		fmt.Fprintf(&b, "line %07d of a message another client expunges while it is read\r\n", i)
	}
	body := b.Bytes()
	uid := s.Seed(t, u, "INBOX", test.Message{Body: body})[0]
	cacheDir := t.TempDir()
	m := test.Mount(t, s, u, "--cache-dir", cacheDir)
	file := filepath.Join(m.Dir, "INBOX", fmt.Sprintf("%d.eml", uid))
	out, ready, goOn := filepath.Join(t.TempDir(), "out"), filepath.Join(t.TempDir(), "ready"), filepath.Join(t.TempDir(), "go")

	// One open file: the first MiB is read, then the message is expunged,
	// then cat reads the rest.
	script := `exec 3<"$1"; dd bs=1048576 count=1 status=none <&3 >"$2" || exit 9; touch "$3"
		while [ ! -e "$4" ]; do sleep 0.05; done; exec cat <&3 >>"$2"`
	reader := exec.Command("sh", "-c", script, "sh", file, out, ready, goOn)
	var stderr bytes.Buffer
	reader.Stderr = &stderr
	if err := reader.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			reader.Process.Kill()
			reader.Wait()
			t.Fatalf("the first MiB was never read: %s\n%s", stderr.String(), m.Log())
		}
	}
	c := s.Session(t, u)
	for _, cmd := range []string{"SELECT INBOX", fmt.Sprintf(`UID STORE %d +FLAGS.SILENT (\Deleted)`, uid), fmt.Sprintf("UID EXPUNGE %d", uid)} {
		if _, _, err := c.Run(cmd); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.Messages(t, u, "INBOX")) != 0 {
		t.Fatal("the message is still on the server")
	}
	if err := os.WriteFile(goOn, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := reader.Wait()
	got, _ := os.ReadFile(out)
	if err == nil && !bytes.Equal(got, body) {
		t.Errorf("the read of an expunged message succeeded with %d of its %d bytes\n%s", len(got), len(body), m.Log())
	}
	t.Logf("reader: %v, %d bytes, %s", err, len(got), strings.TrimSpace(stderr.String()))

	// A second read does not find a short copy kept by the first.
	if again, err := exec.Command("cat", file).Output(); err == nil && !bytes.Equal(again, body) {
		t.Errorf("a second read succeeded with %d of %d bytes", len(again), len(body))
	}
	// Whatever the disk cache kept is exact.
	files, _ := cacheFiles(t, cacheDir)
	for _, f := range files {
		var block int
		if _, err := fmt.Sscanf(filepath.Base(f), fmt.Sprintf("%d.%%d", uid), &block); err != nil {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil || len(data) < 8 {
			continue
		}
		data = data[8:] // magic and CRC
		start := block << 20
		if want := body[min(start, len(body)):min(start+1<<20, len(body))]; !bytes.Equal(data, want) {
			t.Errorf("the disk cache holds %d bytes for block %d, not its %d", len(data), block, len(want))
		}
	}
}
