// Package scale is the scale benchmark of imapfs: one mailbox of many
// small messages and one account of many mailboxes, on loopback with the
// harness's private Dovecot. It reports the time to mount and list the
// big mailbox, a cold `ls -l` of it, a cold `rsync -a` of it (with a body
// cache smaller than the mailbox) and a no-change one, the memory imapfs
// holds per listed message (RSS after listing it, beyond the RSS of the
// fresh mount), `ls -l` of the many-mailbox root, and what a refresh of
// the big mailbox costs when one message arrives (commands and bytes,
// from the root's user.imapfs.stats). Run it as root with test/setup's
// packages:
//
//	go test -run '^$' -bench Scale -benchtime 1x -timeout 60m ./test/bench/scale/
//
// SCALE_MESSAGES (default 100000) is the size of the big mailbox,
// SCALE_MAILBOXES (default 1000) the number of mailboxes of the other
// account. SCALE_LISTING_ONLY=1 stops after the RSS of the listing.
// docs/performance.md has the results and the targets. The
// package holds only this benchmark, so a plain `go test ./...` compiles
// it and runs nothing.
package scale

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"imapfs/test"
	"imapfs/test/bench/benchkit"
)

func TestMain(m *testing.M) { test.Main(m) }

// rsyncCacheSize is the body cache of the cold rsync: smaller than the
// mailbox (200 MB), so that bodies fill it.
const rsyncCacheSize = 64 << 20

func BenchmarkScale(b *testing.B) {
	test.RequireFUSE(b)
	for _, tool := range []string{"ls", "rsync"} {
		test.RequireTool(b, tool)
	}
	messages := benchkit.EnvInt("SCALE_MESSAGES", 100000)
	mailboxes := benchkit.EnvInt("SCALE_MAILBOXES", 1000)

	start := time.Now()
	s := test.StartDovecot(b)
	big := s.NewUser(b)
	corpus := benchkit.NewCorpus(s, big)
	corpus.MinSize, corpus.MaxSize = 1<<10, 3<<10
	corpus.Add(b, "INBOX", messages)
	corpus.Index(b)
	many := s.NewUser(b)
	boxes := benchkit.NewCorpus(s, many)
	boxes.MinSize, boxes.MaxSize = 1<<10, 3<<10
	for i := range mailboxes {
		boxes.Add(b, fmt.Sprintf("Box%04d", i+1), 1)
	}
	boxes.Index(b)
	fmt.Printf("scale: %d messages in INBOX (%.1f MB), %d mailboxes of one message, seeded and indexed in %v\n",
		messages, float64(corpus.Total)/1e6, mailboxes, time.Since(start).Round(time.Millisecond))
	test.Imapfs(b) // built now, not in the first mount's time

	st := benchkit.Samples{}
	// A step on a mount; what it cost is in st under name.
	measure := func(m *test.Mounted, name string, run func()) {
		before := m.Stats(b)
		t0 := time.Now()
		run()
		st.Add(name, time.Since(t0).Seconds())
		after := m.Stats(b)
		for _, k := range []string{"commands", "bytes_in", "bodies_fetched", "listings", "listing_refreshes"} {
			st.Add(name+" "+k, float64(after[k]-before[k]))
		}
	}
	tool := func(name string, args ...string) func() {
		return func() { benchkit.Timed(b, name, args...) }
	}
	inbox := func(m *test.Mounted) string { return filepath.Join(m.Dir, "INBOX") }

	// Mount and list the big mailbox (names only: the listing), then
	// `ls -l` of it (a node per message), with the RSS after each.
	t0 := time.Now()
	m := test.Mount(b, s, big)
	benchkit.Timed(b, "ls", m.Dir)
	rssMounted := rss(b, m)
	measure(m, "ls", tool("ls", inbox(m)))
	st.Add("mount and ls", time.Since(t0).Seconds())
	st.Add("rss listed", float64(rss(b, m)-rssMounted))
	time.Sleep(5 * time.Second) // the runtime returns what it no longer uses
	st.Add("rss listed later", float64(rss(b, m)-rssMounted))
	measure(m, "ls -l warm", tool("ls", "-l", inbox(m)))
	st.Add("rss ls -l", float64(rss(b, m)-rssMounted))
	st.Add("rss mounted", float64(rssMounted))
	m.Unmount(b)

	// SCALE_LISTING_ONLY stops here: the memory of a listing is known.
	if benchkit.EnvInt("SCALE_LISTING_ONLY", 0) == 0 {
		// A cold `ls -l` on a fresh mount.
		m = test.Mount(b, s, big)
		measure(m, "ls -l", tool("ls", "-l", inbox(m)))
		m.Unmount(b)

		// rsync into an empty backup, then again with nothing changed, each
		// on a fresh mount. The body cache is smaller than the mailbox, so
		// that it fills and the listing comes on top of it.
		backup := filepath.Join(b.TempDir(), "backup")
		m = test.Mount(b, s, big, "--cache-size", strconv.Itoa(rsyncCacheSize))
		measure(m, "rsync", tool("rsync", "-a", inbox(m)+"/", backup+"/"))
		m.Unmount(b)
		if n := benchkit.CountFiles(b, backup); n != messages {
			b.Fatalf("rsync -a of INBOX copied %d messages, want %d", n, messages)
		}
		m = test.Mount(b, s, big)
		measure(m, "rsync again", tool("rsync", "-a", inbox(m)+"/", backup+"/"))
		m.Unmount(b)

		// One message arrives in the listed mailbox; the next listing once
		// the old one expired (--dir-cache-time, 2 s) refreshes it.
		m = test.Mount(b, s, big)
		benchkit.Timed(b, "ls", inbox(m))
		time.Sleep(3 * time.Second)
		measure(m, "refresh unchanged", tool("ls", inbox(m)))
		s.Seed(b, big, "INBOX", test.Message{Body: []byte("From: a@example.org\r\nSubject: one more\r\n\r\nhello\r\n")})
		time.Sleep(3 * time.Second)
		measure(m, "refresh arrival", tool("ls", inbox(m)))
		if n := benchkit.CountFiles(b, inbox(m)); n != messages+1 {
			b.Fatalf("INBOX lists %d messages after one arrived, want %d", n, messages+1)
		}
		m.Unmount(b)

		// The root of the account of many mailboxes: cold, and again once
		// the folder list expired.
		m = test.Mount(b, s, many)
		measure(m, "ls root", tool("ls", "-l", m.Dir))
		time.Sleep(3 * time.Second)
		measure(m, "ls root again", tool("ls", "-l", m.Dir))
		if n := benchkit.CountFiles(b, m.Dir); n != mailboxes+1 { // and INBOX
			b.Fatalf("the root lists %d mailboxes, want %d", n, mailboxes+1)
		}
		m.Unmount(b)
	}

	med := st.Median
	perMessage := func(name string) float64 { return med(name) / float64(messages) }
	fmt.Printf("\nscale: INBOX of %d messages (%.1f MB), an account of %d mailboxes, loopback Dovecot\n\n",
		messages, float64(corpus.Total)/1e6, mailboxes)
	fmt.Printf("| what | time | commands | bytes in | bodies fetched |\n|---|---|---|---|---|\n")
	row := func(what, name string) {
		fmt.Printf("| %s | %.2f s | %.0f | %.0f | %.0f |\n", what, med(name), med(name+" commands"), med(name+" bytes_in"), med(name+" bodies_fetched"))
	}
	fmt.Printf("| mount and `ls` of INBOX | %.2f s | | | |\n", med("mount and ls"))
	row("`ls` of INBOX (its listing)", "ls")
	row("`ls -l` of INBOX, listed", "ls -l warm")
	row("`ls -l` of INBOX, fresh mount", "ls -l")
	row(fmt.Sprintf("`rsync -a` of INBOX into an empty folder, fresh mount, --cache-size %d MiB", rsyncCacheSize>>20), "rsync")
	row("the same `rsync -a`, nothing changed, fresh mount", "rsync again")
	row("`ls` of INBOX again, nothing changed", "refresh unchanged")
	row("`ls` of INBOX after one message arrived", "refresh arrival")
	row(fmt.Sprintf("`ls -l` of the root of %d mailboxes, fresh mount", mailboxes), "ls root")
	row("the same again, 3 s later", "ls root again")
	fmt.Printf("\n| memory | RSS | per message |\n|---|---|---|\n")
	fmt.Printf("| fresh mount | %.1f MiB | |\n", med("rss mounted")/(1<<20))
	fmt.Printf("| more after `ls` of INBOX | %.1f MiB | %.0f bytes |\n", med("rss listed")/(1<<20), perMessage("rss listed"))
	fmt.Printf("| the same, 5 s later | %.1f MiB | %.0f bytes |\n", med("rss listed later")/(1<<20), perMessage("rss listed later"))
	fmt.Printf("| more after `ls -l` of INBOX | %.1f MiB | %.0f bytes |\n", med("rss ls -l")/(1<<20), perMessage("rss ls -l"))
	fmt.Printf("\nscale: all samples (s, counts, bytes):\n")
	for _, k := range slices.Sorted(maps.Keys(st)) {
		fmt.Printf("  %-34s %v\n", k, st[k])
	}
	fmt.Printf("scale: total %v\n", time.Since(start).Round(time.Second))

	for _, name := range []string{"mount and ls", "ls -l", "rsync", "rsync again", "ls root"} {
		b.ReportMetric(med(name), strings.ReplaceAll(name, " ", "-")+"-s")
	}
	b.ReportMetric(perMessage("rss ls -l"), "rss-B/msg")
	b.ReportMetric(med("refresh arrival bytes_in"), "refresh-arrival-B")
}

// rss is the resident size, in bytes, of the process serving the mount.
func rss(b *testing.B, m *test.Mounted) int64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.Pid()))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				b.Fatalf("VmRSS of imapfs: %q", line)
			}
			return kb << 10
		}
	}
	b.Fatalf("no VmRSS in /proc/%d/status", m.Pid())
	return 0
}
