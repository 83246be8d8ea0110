package fs_test

import (
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"imapfs/test"
)

// since is what the counters grew by from before to after.
func since(before, after map[string]int64) map[string]int64 {
	d := map[string]int64{}
	for k, v := range after {
		if v != before[k] {
			d[k] = v - before[k]
		}
	}
	return d
}

// seedWalk puts n small messages in a mailbox and returns their UIDs.
func seedWalk(t *testing.T, s *test.Server, u test.User, mailbox string, n int) []uint32 {
	t.Helper()
	var msgs []test.Message
	for i := range n {
		msgs = append(msgs, test.Message{
			Body: []byte(fmt.Sprintf("From: a%d@example.com\r\nSubject: walk %d\r\n\r\n%s\r\n", i, i, strings.Repeat("line of a walk\r\n", 50+i%7))),
			Date: time.Date(2024, 3, 1, 12, 0, i, 0, time.UTC),
		})
	}
	return s.Seed(t, u, mailbox, msgs...)
}

// Tools open a mailbox's messages in their own order: cp -r by inode
// number, rsync by name (1.eml, 10.eml, 100.eml, ...), a shell loop
// backwards, a script in any order at all. Whatever the order, once a
// few are open the rest come in bulk: far fewer commands than messages,
// and no body fetched twice.
func TestWalkInAnyOrder(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	const n = 200
	uids := seedWalk(t, s, u, "INBOX", n)
	walks := map[string]func(t *testing.T, dir string){
		"cp": func(t *testing.T, dir string) { run(t, "cp", "-r", dir, t.TempDir()) },
		"rsync": func(t *testing.T, dir string) {
			run(t, "rsync", "-a", "--whole-file", dir+"/", t.TempDir()+"/")
		},
		"cat-backwards": func(t *testing.T, dir string) {
			run(t, "sh", "-c", `cd "$1" && for f in $(ls -v -r); do cat "$f"; done >/dev/null`, "sh", dir)
		},
		"shuffled": func(t *testing.T, dir string) {
			order := slices.Clone(uids)
			rand.New(rand.NewPCG(1, 2)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			for _, uid := range order {
				if _, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%d.eml", uid))); err != nil {
					t.Fatal(err)
				}
			}
		},
	}
	for name, walk := range walks {
		t.Run(name, func(t *testing.T) {
			m := test.Mount(t, s, u)
			walkOnce(t, m, name, n, walk)
		})
	}
	// A body cache too small for the mailbox: what is fetched ahead
	// stays within a quarter of it, and still comes many at a time.
	t.Run("small-cache", func(t *testing.T) {
		m := test.Mount(t, s, u, "--cache-size", strconv.Itoa(n*1000/2))
		walkOnce(t, m, "cp", n, walks["cp"])
	})
}

// walkOnce lists the mailbox, walks it, and checks what the walk cost.
func walkOnce(t *testing.T, m *test.Mounted, name string, n int64, walk func(t *testing.T, dir string)) {
	t.Helper()
	dir := filepath.Join(m.Dir, "INBOX")
	run(t, "ls", "-l", dir) // listed: what follows is the walk alone
	before := m.Stats(t)
	walk(t, dir)
	d := since(before, m.Stats(t))
	t.Logf("%s: %v", name, d)
	if d["bodies_fetched"] != n {
		t.Errorf("%d bodies fetched for %d messages: %v", d["bodies_fetched"], n, d)
	}
	if d["commands"] > n/8 {
		t.Errorf("%d commands for %d messages: %v", d["commands"], n, d)
	}
}

// Opening a listed message asks the server nothing; reading it then
// costs at most two round trips (opening the mailbox, the FETCH), and
// brings no other message: one cat is no walk, and neither are two far
// apart.
func TestOpenWaitsForNoServer(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	uids := seedWalk(t, s, u, "INBOX", 20)
	m := test.Mount(t, s, u, "-o", "attr_timeout=3600", "--dir-cache-time", "1h")
	dir := filepath.Join(m.Dir, "INBOX")
	run(t, "ls", "-l", dir)
	before := m.Stats(t)
	f, err := os.Open(filepath.Join(dir, fmt.Sprintf("%d.eml", uids[1])))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	opened := m.Stats(t)
	if d := since(before, opened); d["commands"] != 0 {
		t.Errorf("open sent %d commands: %v", d["commands"], d)
	}
	if data, err := io.ReadAll(f); err != nil || !strings.Contains(string(data), "Subject: walk 1\r\n") {
		t.Fatalf("read %q, %v", data, err)
	}
	read := m.Stats(t)
	if d := since(opened, read); d["commands"] > 2 || d["bodies_fetched"] != 1 {
		t.Errorf("reading one message: %v; want at most 2 commands, 1 body", d)
	}
	// Had the first open started a prefetch, this read would wait for it.
	run(t, "cat", filepath.Join(dir, fmt.Sprintf("%d.eml", uids[10])))
	if d := since(read, m.Stats(t)); d["bodies_fetched"] != 1 || d["prefetches"] != 0 {
		t.Errorf("reading a second message: %v; want 1 body, no prefetch", d)
	}
}

// A tool that reads a mailbox in name order (rsync: 1.eml, 10.eml,
// 100.eml, 11.eml, ...) waits for the server at its first file, alone,
// and at its second, which shows the order. That second open asks for
// the next messages in that order in two windows at once, so the reader
// that finishes the first window finds the second on its way instead of
// waiting one more round trip for it. Nothing more is fetched until the
// reader goes on.
func TestOrderedWalkAsksTwoWindowsAtOnce(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	uids := seedWalk(t, s, u, "INBOX", 100)
	names := make([]string, len(uids))
	for i, uid := range uids {
		names[i] = fmt.Sprintf("%d.eml", uid)
	}
	slices.Sort(names)
	m := test.Mount(t, s, u)
	dir := filepath.Join(m.Dir, "INBOX")
	run(t, "ls", "-l", dir)
	run(t, "cat", filepath.Join(dir, names[0]))
	before := m.Stats(t)
	run(t, "cat", filepath.Join(dir, names[1]))
	// The first window: the message opened and the next 8; the second:
	// 32 more. They come in the background; wait for them to settle.
	const want = 1 + 8 + 32
	var d map[string]int64
	for deadline := time.Now().Add(10 * time.Second); ; {
		d = since(before, m.Stats(t))
		if d["bodies_fetched"] >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // for anything more that would come
	if d = since(before, m.Stats(t)); d["bodies_fetched"] != want || d["prefetches"] != 2 {
		t.Errorf("the second of two files opened in name order brought %v; want %d bodies in 2 prefetches", d, want)
	}
}

// Within a mailbox, inode numbers grow with the UID (tools that sort by
// inode read in UID order), differ from the directory's, stay the same
// on the next mount, and find -inum finds the one message.
func TestInodesFollowUIDs(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	s.CreateMailbox(t, u, "Other")
	uids := seedWalk(t, s, u, "INBOX", 5)
	seedWalk(t, s, u, "Other", 5)
	inodes := func(m *test.Mounted) map[string]uint64 {
		got := map[string]uint64{}
		for _, box := range []string{"INBOX", "Other"} {
			for _, uid := range uids {
				p := filepath.Join(box, fmt.Sprintf("%d.eml", uid))
				st, err := statT(filepath.Join(m.Dir, p))
				if err != nil {
					t.Fatal(err)
				}
				if st.Nlink != 1 {
					t.Errorf("%s: nlink %d", p, st.Nlink)
				}
				got[p] = st.Ino
			}
			st, err := statT(filepath.Join(m.Dir, box))
			if err != nil {
				t.Fatal(err)
			}
			got[box] = st.Ino
		}
		return got
	}
	m := test.Mount(t, s, u)
	first := inodes(m)
	seen := map[uint64]string{}
	for p, ino := range first {
		if other, dup := seen[ino]; dup {
			t.Errorf("%s and %s share inode %d", p, other, ino)
		}
		seen[ino] = p
	}
	for _, box := range []string{"INBOX", "Other"} {
		for i := 1; i < len(uids); i++ {
			a, b := first[fmt.Sprintf("%s/%d.eml", box, uids[i-1])], first[fmt.Sprintf("%s/%d.eml", box, uids[i])]
			if a >= b {
				t.Errorf("%s: inode of UID %d is %d, of UID %d is %d", box, uids[i-1], a, uids[i], b)
			}
		}
	}
	p := fmt.Sprintf("INBOX/%d.eml", uids[2])
	if out := run(t, "find", m.Dir, "-inum", strconv.FormatUint(first[p], 10)); strings.TrimSpace(out) != filepath.Join(m.Dir, p) {
		t.Errorf("find -inum %d: %q, want %s", first[p], out, p)
	}
	m.Unmount(t)
	if again := inodes(test.Mount(t, s, u)); !maps.Equal(first, again) {
		t.Errorf("inodes changed across mounts: %v, then %v", first, again)
	}
}

// A walk's messages come in windows, one UID FETCH each; a reader waits
// for its own message, not for the whole window. The answer of the
// second window is held back halfway, in the literal of a large message:
// the small message before it in the window reads at once.
func TestWalkReaderWaitsForItsMessageOnly(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	var msgs []test.Message
	for i := range 50 {
		body := fmt.Sprintf("From: a%d@example.com\r\nSubject: window %d\r\n\r\n%s", i, i, strings.Repeat("a line of a small message\r\n", 40))
		if i == 11 { // UID 12: a first block (1 MiB) too large to pass the stall
			body += strings.Repeat("a line of a large message..................................\r\n", 40000)
		}
		msgs = append(msgs, test.Message{Body: []byte(body)})
	}
	uids := s.Seed(t, u, "INBOX", msgs...)
	if uids[10] != 11 || uids[11] != 12 {
		t.Fatalf("seeded UIDs %v, want 1 to 50", uids)
	}
	p := test.StartProxy(t, s.TLSAddr(), test.ProxyOptions{})
	m := test.Mount(t, s.Via(p), u, "-o", "attr_timeout=3600,entry_timeout=3600", "--dir-cache-time", "1h", "--timeout", "60s")
	dir := filepath.Join(m.Dir, "INBOX")
	run(t, "ls", "-l", dir)
	cat := func(uid int) (string, error) {
		cmd := exec.Command("timeout", "10", "cat", filepath.Join(dir, fmt.Sprintf("%d.eml", uid)))
		out, err := cmd.Output()
		return string(out), err
	}
	// In UID order: 1 and 2 start a walk, whose windows come in UID order
	// too; the answer of the one with UID 12 stalls in it.
	if _, err := cat(1); err != nil {
		t.Fatalf("cat 1.eml: %v", err)
	}
	stall := p.Arm(test.Fault{Stall: true, Dir: test.ToClient, AfterBytes: 256 << 10})
	released := false
	defer func() {
		if !released {
			stall.Release()
		}
	}()
	for uid := 2; uid <= 11; uid++ {
		out, err := cat(uid)
		if err != nil || !strings.Contains(out, fmt.Sprintf("Subject: window %d\r\n", uid-1)) {
			t.Fatalf("cat %d.eml while the window's answer is held in UID 12: %v (%d bytes)", uid, err, len(out))
		}
	}
	select {
	case <-stall.Fired():
	default:
		t.Fatalf("the stall never held anything: the window did not reach UID 12 (stats %v)", m.Stats(t))
	}
	stall.Release()
	released = true
	if out, err := cat(12); err != nil || len(out) < 1<<20 {
		t.Fatalf("cat 12.eml after the stall: %v (%d bytes)", err, len(out))
	}
}
