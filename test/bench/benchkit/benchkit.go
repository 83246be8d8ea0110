// Package benchkit holds what the benchmarks under test/bench share: a
// corpus written straight into the harness's Dovecot Maildir, mbsync as the
// anchor, timing real tools and taking medians.
package benchkit

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"imapfs/test"
)

// EnvInt is the positive integer in the environment variable name, or def.
func EnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// Samples collects one figure per round, by measurement name.
type Samples map[string][]float64

func (s Samples) Add(name string, v float64) { s[name] = append(s[name], v) }

// Median is the median of name's samples, 0 without any.
func (s Samples) Median(name string) float64 {
	v := slices.Clone(s[name])
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// Timed runs a command with its output discarded and returns its wall time.
func Timed(t test.T, name string, args ...string) time.Duration {
	t.Helper()
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	var stderr strings.Builder
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = devnull, &stderr
	t0 := time.Now()
	err = cmd.Run()
	d := time.Since(t0)
	if err != nil {
		t.Fatalf("%s %s: %v\n%.2000s", name, strings.Join(args, " "), err, stderr.String())
	}
	return d
}

// DropCaches empties the kernel's page cache, dentries and inodes.
func DropCaches(t test.T) {
	t.Helper()
	exec.Command("sync").Run()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0o200); err != nil {
		t.Fatalf("drop caches: %v", err)
	}
}

// CountFiles is the number of entries in dir.
func CountFiles(t test.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// CountFilesTree is the number of regular files anywhere below dir.
func CountFilesTree(t test.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Corpus writes plain-text messages (CRLF), 16–24 KiB unless MaxSize
// says otherwise, into a user's
// Maildir on the harness's Dovecot, as files Dovecot takes as its own,
// which is much faster than APPENDing them. Call Index once at the end.
// The same calls give the same bytes, dates and names every run.
type Corpus struct {
	Server *test.Server
	User   test.User
	// Needle, when set, is written into every 50th message, for grep.
	Needle string
	// MinSize and MaxSize bound the size of the messages written next;
	// 0: 16 and 24 KiB.
	MinSize, MaxSize int
	// Total is the size of every message written so far.
	Total int64

	rng  *rand.Rand
	next int // messages written so far: numbers names, dates and Message-IDs
}

func NewCorpus(s *test.Server, u test.User) *Corpus {
	return &Corpus{Server: s, User: u, rng: rand.New(rand.NewPCG(1, 2))}
}

var corpusWords = strings.Fields("the of and to in is that for it as was with be by on not he this are or his from at which but have an they you were her she there one all we their been has when who will more no if out so said what up its about into than them can only other new some could time these two may then do first any my now such like our over man me even most made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three")

var corpusBase = time.Date(2024, 1, 1, 8, 0, 0, 0, time.UTC)

// Add writes count messages into mailbox, INBOX or a top-level mailbox
// name, creating the mailbox's folder if need be.
func (c *Corpus) Add(t test.T, mailbox string, count int) {
	t.Helper()
	c.write(t, c.maildir(mailbox), count)
}

// maildir is a top-level mailbox's folder (Maildir++: INBOX at the top,
// the others in dot folders, which Dovecot lists as mailboxes).
func (c *Corpus) maildir(mailbox string) string {
	dir := filepath.Join(c.Server.Dir, "mail", c.User.Name)
	if mailbox == "INBOX" {
		return dir
	}
	return filepath.Join(dir, "."+mailbox)
}

func (c *Corpus) write(t test.T, maildir string, count int) {
	t.Helper()
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(maildir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	var line strings.Builder
	for range count {
		i := c.next
		c.next++
		rng := c.rng
		lo, hi := cmp.Or(c.MinSize, 16<<10), cmp.Or(c.MaxSize, 24<<10)
		size := lo + rng.IntN(hi-lo+1)
		date := corpusBase.Add(time.Duration(i) * 17 * time.Minute)
		var msg strings.Builder
		msg.Grow(size + 200)
		fmt.Fprintf(&msg, "From: Sender %d <sender%d@example.org>\r\nTo: %s@example.org\r\nSubject: bench message %d\r\n"+
			"Date: %s\r\nMessage-ID: <bench-%d@example.org>\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n",
			i%97, i%97, c.User.Name, i, date.Format(time.RFC1123Z), i)
		if c.Needle != "" && i%50 == 0 {
			msg.WriteString("This one holds the " + c.Needle + ".\r\n")
		}
		for msg.Len() < size-80 {
			line.Reset()
			for line.Len() < 70 {
				line.WriteString(corpusWords[rng.IntN(len(corpusWords))])
				line.WriteByte(' ')
			}
			msg.WriteString(strings.TrimSpace(line.String()))
			msg.WriteString("\r\n")
		}
		msg.WriteString("-- \r\nend\r\n")
		body := msg.String()
		n := len(body)
		name := fmt.Sprintf("%d.M%dP%d.bench,S=%d,W=%d:2,", date.Unix(), i, 4242, n, n)
		path := filepath.Join(maildir, "cur", name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, date, date); err != nil {
			t.Fatal(err)
		}
		c.Total += int64(n)
	}
}

// Index hands the files to Dovecot and lets it index every mailbox once.
func (c *Corpus) Index(t test.T) {
	t.Helper()
	dir := filepath.Join(c.Server.Dir, "mail", c.User.Name)
	if out, err := exec.Command("chown", "-R", "dovecot:dovecot", dir).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v: %s", err, out)
	}
	c.Server.Doveadm(t, "mailbox", "status", "-u", c.User.Name, "all", "*")
}

// Mbsync pulls mailboxes of one account into a local Maildir with mbsync
// (Debian's isync), with its fastest settings (no fsync).
type Mbsync struct {
	Path  string // the mbsync binary
	Conf  string // its configuration file
	Local string // the local Maildir it pulls into
}

// NewMbsync writes a configuration pulling the mailboxes that patterns
// match (mbsync's Patterns, e.g. "INBOX" or "*") from u's account over
// implicit TLS on port (the server's, or a proxy's in front of it) into
// dir/local, with its sync state kept there too.
func NewMbsync(t test.T, path string, s *test.Server, u test.User, port int, patterns, dir string) *Mbsync {
	t.Helper()
	m := &Mbsync{Path: path, Conf: filepath.Join(dir, "mbsyncrc"), Local: filepath.Join(dir, "local")}
	rc := fmt.Sprintf(`FSync no

IMAPAccount bench
Host localhost
Port %d
User %s
Pass %s
SSLType IMAPS
CertificateFile %s

IMAPStore bench-far
Account bench

MaildirStore bench-near
Path %s/
Inbox %s/INBOX

Channel pull
Far :bench-far:
Near :bench-near:
Patterns %s
Sync Pull
Create Near
SyncState *
`, port, u.Name, u.Password, s.TLS.CAFile, m.Local, m.Local, patterns)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(m.Conf, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	return m
}

// Fresh empties the local Maildir and its sync state, so that the next
// Pull fetches everything.
func (m *Mbsync) Fresh(t test.T) {
	t.Helper()
	if err := os.RemoveAll(m.Local); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(m.Local, 0o700); err != nil {
		t.Fatal(err)
	}
}

// Pull runs mbsync once and returns how long it took.
func (m *Mbsync) Pull(t test.T) time.Duration {
	t.Helper()
	return Timed(t, m.Path, "-q", "-c", m.Conf, "pull")
}
