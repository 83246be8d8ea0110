// Package readpath is the read-path benchmark of imapfs: cold `ls -l`, cold
// `grep -r` and a no-change `rsync -a` of a 10,000-message (~200 MB)
// mailbox, each paired, in the same run, with its floors: the same tree
// served from memory by a minimal bazil.org/fuse filesystem (the FUSE
// floor, test/bench/floorfs) and the same data sent by Dovecot over a raw
// socket (the server floor), plus an mbsync pull of the mailbox (what a user
// would do instead). Run it as root, with test/setup's packages and Debian's
// isync (mbsync; without it that comparison alone is skipped):
//
//	go test -run '^$' -bench ReadPath -benchtime 1x -timeout 30m ./test/bench/readpath/
//
// It takes about 3 minutes on 2 cores and prints a table of medians and
// ratios. READPATH_ROUNDS (default 5) and READPATH_MESSAGES (default 10000)
// change the size of a run. docs/performance.md has the results and the
// targets. The package holds only this benchmark, so a plain
// `go test ./...` compiles it and runs nothing.
package readpath

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"imapfs/test"
	"imapfs/test/bench/benchkit"
)

func TestMain(m *testing.M) { test.Main(m) }

const (
	cacheSize = 256 << 20 // imapfs --cache-size
	needle    = "zebra-needle"
)

func BenchmarkReadPath(b *testing.B) {
	test.RequireFUSE(b)
	for _, tool := range []string{"ls", "grep", "rsync"} {
		test.RequireTool(b, tool)
	}
	rounds := benchkit.EnvInt("READPATH_ROUNDS", 5)
	count := benchkit.EnvInt("READPATH_MESSAGES", 10000)
	mbsync, mbsyncErr := exec.LookPath("mbsync")
	if mbsyncErr != nil {
		fmt.Println("readpath: mbsync is not installed: skipping the mbsync comparison alone (apt-get install isync)")
	}

	start := time.Now()
	s := test.StartDovecot(b)
	u := s.NewUser(b)
	work := b.TempDir()
	os.Chmod(work, 0o755)
	seedStart := time.Now()
	total := seedMaildir(b, s, u, count)
	manifest := filepath.Join(work, "manifest")
	writeManifest(b, s, u, count, manifest)
	fmt.Printf("readpath: %d messages, %.1f MB, seeded and indexed in %v\n", count, float64(total)/1e6, time.Since(seedStart).Round(time.Millisecond))

	imapfs := test.Imapfs(b)
	floorfs := test.Build(b, "./test/bench/floorfs")
	mountFloor := func() *test.Mounted { return test.MountCommand(b, []string{floorfs, manifest}, nil) }
	mountImapfsWith := func(flags ...string) *test.Mounted {
		argv := append([]string{imapfs, "-f", "--ca-file", s.TLS.CAFile, "--cache-size", strconv.Itoa(cacheSize)}, flags...)
		return test.MountCommand(b, append(argv, s.URL(u, true)), []string{"IMAPFS_PASSWORD=" + u.Password})
	}
	mountImapfs := func() *test.Mounted { return mountImapfsWith() }
	// With a disk cache that an earlier mount filled (below).
	cacheDir := filepath.Join(work, "cache")
	mountImapfsDisk := func() *test.Mounted { return mountImapfsWith("--cache-dir", cacheDir, "--cache-dir-size", "1G") }

	// Warm up: Dovecot's index cache learns the fields the floors and
	// imapfs ask for, and the rsync destinations get their first copy.
	rawFetch(b, s, u, "(UID RFC822.SIZE INTERNALDATE FLAGS)")
	rawFetch(b, s, u, "BODY.PEEK[]")
	destFloor, destImapfs := filepath.Join(work, "rsync-floor"), filepath.Join(work, "rsync-imapfs")
	var firstRsync [2]time.Duration
	for i, c := range []struct {
		mount func() *test.Mounted
		dest  string
	}{{mountFloor, destFloor}, {mountImapfs, destImapfs}} {
		m := c.mount()
		firstRsync[i] = benchkit.Timed(b, "rsync", "-a", m.Dir+"/INBOX/", c.dest+"/")
		m.Unmount(b)
	}
	if n := benchkit.CountFiles(b, destImapfs); n != count {
		b.Fatalf("imapfs showed %d messages, want %d", n, count)
	}
	if out, _ := exec.Command("diff", "-r", destFloor, destImapfs).CombinedOutput(); len(out) > 0 {
		b.Fatalf("floorfs and imapfs trees differ:\n%.2000s", out)
	}
	fmt.Printf("readpath: first full rsync -a: floor %v, imapfs %v\n", firstRsync[0].Round(time.Millisecond), firstRsync[1].Round(time.Millisecond))
	m := mountImapfsDisk()
	fillTime := benchkit.Timed(b, "grep", "-r", needle, m.Dir+"/INBOX")
	m.Unmount(b)
	fmt.Printf("readpath: a grep -r filling --cache-dir: %v\n", fillTime.Round(time.Millisecond))

	st := benchkit.Samples{}
	var floorGrepReqs, imapfsGrepReqs, imapfsRsyncReqs string
	lsReqs := map[string]string{}
	for round := range rounds {
		// Server floors, each from a cold page cache like the mounts.
		benchkit.DropCaches(b)
		st.Add("server meta", rawFetch(b, s, u, "(UID RFC822.SIZE INTERNALDATE FLAGS)").Seconds())
		benchkit.DropCaches(b)
		st.Add("server body", rawFetch(b, s, u, "BODY.PEEK[]").Seconds())
		// And again with Dovecot's files in the page cache, as in the issue.
		st.Add("server meta warm", rawFetch(b, s, u, "(UID RFC822.SIZE INTERNALDATE FLAGS)").Seconds())
		st.Add("server body warm", rawFetch(b, s, u, "BODY.PEEK[]").Seconds())
		// Without TLS, for reference only: imapfs speaks TLS here.
		st.Add("server body warm plaintext", rawFetchOn(b, s, u, "BODY.PEEK[]", false).Seconds())

		// Floor and imapfs back to back, alternating which goes first.
		order := []string{"floor", "imapfs"}
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, which := range order {
			mount := mountFloor
			if which == "imapfs" {
				mount = mountImapfs
			}

			benchkit.DropCaches(b)
			m := mount()
			st.Add("ls "+which, benchkit.Timed(b, "ls", "-l", m.Dir+"/INBOX").Seconds())
			m.Unmount(b)
			lsReqs[which] = fuseRequests(b, m)
			st.Add("ls reqs "+which, float64(sumRequests(lsReqs[which])))

			benchkit.DropCaches(b)
			m = mount()
			grepLogStart := fileSize(filepath.Join(s.Dir, "dovecot.log"))
			st.Add("grep "+which, benchkit.Timed(b, "grep", "-r", needle, m.Dir+"/INBOX").Seconds())
			hwm := peakRSS(b, m.Dir)
			m.Unmount(b)
			reqs := fuseRequests(b, m)
			st.Add("grep reqs "+which, float64(sumRequests(reqs)))
			st.Add("grep rss "+which, float64(hwm))
			if which == "floor" {
				floorGrepReqs = reqs
			} else {
				imapfsGrepReqs = reqs
				st.Add("grep bodies imapfs", float64(logCounter(b, m, "body_fetches")))
				time.Sleep(300 * time.Millisecond) // Dovecot logs the logouts
				st.Add("grep dovecot bodies", float64(dovecotBodies(b, s, u, grepLogStart)))
			}

			if which == "imapfs" {
				// Bodies from the disk cache, from a cold page cache too.
				benchkit.DropCaches(b)
				m = mountImapfsDisk()
				st.Add("grep diskcache imapfs", benchkit.Timed(b, "grep", "-r", needle, m.Dir+"/INBOX").Seconds())
				m.Unmount(b)
				st.Add("grep diskcache bodies imapfs", float64(logCounter(b, m, "body_fetches")))
				st.Add("grep diskcache hits imapfs", float64(logCounter(b, m, "disk_hits")))
			}

			// A fresh mount (nothing in its page cache) without dropping
			// the caches: Dovecot's files are still in memory from the
			// cold grep, so only FUSE and imapfs are cold.
			m = mount()
			st.Add("grep warm-server "+which, benchkit.Timed(b, "grep", "-r", needle, m.Dir+"/INBOX").Seconds())
			m.Unmount(b)

			benchkit.DropCaches(b)
			m = mount()
			logStart := fileSize(filepath.Join(s.Dir, "dovecot.log"))
			dest := destFloor
			if which == "imapfs" {
				dest = destImapfs
			}
			st.Add("rsync "+which, benchkit.Timed(b, "rsync", "-a", m.Dir+"/INBOX/", dest+"/").Seconds())
			m.Unmount(b)
			if which == "imapfs" {
				imapfsRsyncReqs = fuseRequests(b, m)
				st.Add("rsync bodies imapfs", float64(logCounter(b, m, "body_fetches")))
				time.Sleep(300 * time.Millisecond) // Dovecot logs the logouts
				st.Add("rsync dovecot bodies", float64(dovecotBodies(b, s, u, logStart)))
			}
		}

		if mbsyncErr == nil {
			benchkit.DropCaches(b)
			st.Add("mbsync", mbsyncPull(b, s, u, mbsync, work).Seconds())
		}
		fmt.Printf("readpath: round %d/%d done at %v\n", round+1, rounds, time.Since(start).Round(time.Second))
	}

	med := st.Median
	mib := func(v float64) float64 { return v / (1 << 20) }
	fmt.Printf("\nreadpath: %d messages (%.1f MB), medians of %d paired rounds, cold = fresh mount after drop_caches\n\n", count, float64(total)/1e6, rounds)
	fmt.Printf("| measurement | floor | imapfs | target | imapfs / target |\n|---|---|---|---|---|\n")
	lsTarget := 1.2 * (med("ls floor") + med("server meta"))
	fmt.Printf("| cold `ls -l` | %.3f s FUSE + %.3f s server | %.3f s | ≤ %.3f s | %.2f |\n",
		med("ls floor"), med("server meta"), med("ls imapfs"), lsTarget, med("ls imapfs")/lsTarget)
	lsWarmTarget := 1.2 * (med("ls floor") + med("server meta warm"))
	fmt.Printf("| cold `ls -l`, against the warm server floor | %.3f s FUSE + %.3f s server | %.3f s | ≤ %.3f s | %.2f |\n",
		med("ls floor"), med("server meta warm"), med("ls imapfs"), lsWarmTarget, med("ls imapfs")/lsWarmTarget)
	grepTarget := 1.2 * (med("grep floor") + med("server body"))
	fmt.Printf("| cold `grep -r` | %.3f s FUSE + %.3f s server | %.3f s | ≤ %.3f s | %.2f |\n",
		med("grep floor"), med("server body"), med("grep imapfs"), grepTarget, med("grep imapfs")/grepTarget)
	grepWarmTarget := 1.2 * (med("grep warm-server floor") + med("server body warm"))
	fmt.Printf("| cold `grep -r`, Dovecot's files in page cache | %.3f s FUSE + %.3f s server | %.3f s | ≤ %.3f s | %.2f |\n",
		med("grep warm-server floor"), med("server body warm"), med("grep warm-server imapfs"), grepWarmTarget, med("grep warm-server imapfs")/grepWarmTarget)
	if mbsyncErr == nil {
		fmt.Printf("| cold `grep -r` vs mbsync pull | mbsync %.3f s | %.3f s | ≤ %.3f s (mbsync / 2) | %.2f |\n",
			med("mbsync"), med("grep imapfs"), med("mbsync")/2, med("grep imapfs")/(med("mbsync")/2))
	} else {
		fmt.Printf("| cold `grep -r` vs mbsync pull | not measured: mbsync missing (apt-get install isync) | | | |\n")
	}
	fmt.Printf("| cold `grep -r`, bodies from `--cache-dir` | %.3f s FUSE | %.3f s (%.0f bodies fetched, %.0f read from disk) | | %.2f of the cold grep without it |\n",
		med("grep floor"), med("grep diskcache imapfs"), med("grep diskcache bodies imapfs"), med("grep diskcache hits imapfs"), med("grep diskcache imapfs")/med("grep imapfs"))
	rsyncTarget := 1.2 * med("rsync floor")
	fmt.Printf("| no-change `rsync -a` | %.3f s | %.3f s | ≤ %.3f s | %.2f |\n",
		med("rsync floor"), med("rsync imapfs"), rsyncTarget, med("rsync imapfs")/rsyncTarget)
	fmt.Printf("| bodies fetched by that rsync | 0 | %.0f (imapfs log), %.0f (Dovecot body_count) | 0 | |\n",
		med("rsync bodies imapfs"), med("rsync dovecot bodies"))
	fmt.Printf("| (reference) server body floor, warm, plaintext instead of TLS | | | %.3f s | |\n", med("server body warm plaintext"))
	rssTarget := float64(cacheSize + 64<<20)
	fmt.Printf("| peak RSS during cold grep | %.0f MiB (bodies held in memory) | %.0f MiB | ≤ %.0f MiB | %.2f |\n",
		mib(med("grep rss floor")), mib(med("grep rss imapfs")), mib(rssTarget), med("grep rss imapfs")/rssTarget)
	fmt.Printf("| FUSE requests per message, cold grep | %.2f | %.2f | | |\n",
		med("grep reqs floor")/float64(count), med("grep reqs imapfs")/float64(count))
	fmt.Printf("| FUSE requests per message, cold `ls -l` | %.2f | %.2f | | |\n",
		med("ls reqs floor")/float64(count), med("ls reqs imapfs")/float64(count))
	fmt.Printf("\nreadpath: bodies fetched by imapfs during cold grep: %.0f (imapfs log), %.0f (Dovecot body_count)\n",
		med("grep bodies imapfs"), med("grep dovecot bodies"))
	fmt.Printf("readpath: FUSE requests of the last cold grep: floor %s; imapfs %s\n", floorGrepReqs, imapfsGrepReqs)
	fmt.Printf("readpath: FUSE requests of the last cold ls -l: floor %s; imapfs %s\n", lsReqs["floor"], lsReqs["imapfs"])
	fmt.Printf("readpath: FUSE requests of imapfs's last no-change rsync: %s\n", imapfsRsyncReqs)
	fmt.Printf("readpath: all samples (s, bytes, counts):\n")
	for _, k := range slices.Sorted(maps.Keys(st)) {
		fmt.Printf("  %-22s %v\n", k, st[k])
	}
	fmt.Printf("readpath: total %v\n", time.Since(start).Round(time.Second))

	b.ReportMetric(med("ls imapfs"), "ls-s")
	b.ReportMetric(med("grep imapfs"), "grep-s")
	b.ReportMetric(med("grep warm-server imapfs"), "grep-warm-server-s")
	b.ReportMetric(med("grep diskcache imapfs"), "grep-diskcache-s")
	b.ReportMetric(med("rsync imapfs"), "rsync-s")
	b.ReportMetric(mib(med("grep rss imapfs")), "grep-rss-MiB")
}

// seedMaildir writes count messages of about 20 KiB (16–24 KiB, CRLF) into
// u's INBOX as Maildir files Dovecot will take as its own, then lets
// Dovecot index them. It returns their total size.
func seedMaildir(b *testing.B, s *test.Server, u test.User, count int) int64 {
	c := benchkit.NewCorpus(s, u)
	c.Needle = needle
	c.Add(b, "INBOX", count)
	c.Index(b)
	return c.Total
}

// writeManifest maps each UID Dovecot gave to the file holding its bytes
// (a Maildir message's GUID is its file's base name), for floorfs.
func writeManifest(b *testing.B, s *test.Server, u test.User, count int, manifest string) {
	cur := filepath.Join(s.Dir, "mail", u.Name, "cur")
	entries, err := os.ReadDir(cur)
	if err != nil {
		b.Fatal(err)
	}
	files := map[string]string{}
	for _, e := range entries {
		base, _, _ := strings.Cut(e.Name(), ":")
		files[base] = filepath.Join(cur, e.Name())
	}
	out := s.Doveadm(b, "-f", "tab", "fetch", "-u", u.Name, "uid guid date.received.unixtime", "mailbox", "INBOX")
	var buf strings.Builder
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		f := strings.Split(line, "\t")
		if len(f) != 3 || files[f[1]] == "" {
			b.Fatalf("doveadm fetch: unexpected line %q", line)
		}
		fmt.Fprintf(&buf, "%s\t%s\t%s\n", f[0], f[2], files[f[1]])
		n++
	}
	if n != count {
		b.Fatalf("Dovecot indexed %d messages, want %d", n, count)
	}
	if err := os.WriteFile(manifest, []byte(buf.String()), 0o644); err != nil {
		b.Fatal(err)
	}
}

// rawFetch logs in over implicit TLS, EXAMINEs INBOX and times one
// `UID FETCH 1:* items`, from sending it to its tagged OK, reading every
// literal into io.Discard.
func rawFetch(b *testing.B, s *test.Server, u test.User, items string) time.Duration {
	return rawFetchOn(b, s, u, items, true)
}

// rawFetchOn is rawFetch over implicit TLS, or over plaintext IMAP.
func rawFetchOn(b *testing.B, s *test.Server, u test.User, items string, useTLS bool) time.Duration {
	pem, err := os.ReadFile(s.TLS.CAFile)
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	var conn net.Conn
	if useTLS {
		conn, err = tls.Dial("tcp", s.TLSAddr(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	} else {
		conn, err = net.Dial("tcp", s.Addr())
	}
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Minute))
	r := bufio.NewReaderSize(conn, 64<<10)
	literal := regexp.MustCompile(`\{(\d+)\}\r\n$`)
	var responses int
	run := func(tag, cmd string) {
		if _, err := fmt.Fprintf(conn, "%s %s\r\n", tag, cmd); err != nil {
			b.Fatal(err)
		}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				b.Fatalf("%s: %v", cmd, err)
			}
			for m := literal.FindStringSubmatch(line); m != nil; m = literal.FindStringSubmatch(line) {
				n, _ := strconv.ParseInt(m[1], 10, 64)
				if _, err := io.CopyN(io.Discard, r, n); err != nil {
					b.Fatal(err)
				}
				if line, err = r.ReadString('\n'); err != nil {
					b.Fatal(err)
				}
			}
			if strings.HasPrefix(line, "* ") {
				responses++
			}
			if strings.HasPrefix(line, tag+" ") {
				if !strings.HasPrefix(line, tag+" OK") {
					b.Fatalf("%s: %s", cmd, line)
				}
				return
			}
		}
	}
	if _, err := r.ReadString('\n'); err != nil {
		b.Fatal(err)
	}
	run("a", fmt.Sprintf("LOGIN %q %q", u.Name, u.Password))
	run("b", "EXAMINE INBOX")
	responses = 0
	t0 := time.Now()
	run("c", "UID FETCH 1:* "+items)
	d := time.Since(t0)
	run("d", "LOGOUT")
	if responses == 0 {
		b.Fatalf("UID FETCH 1:* %s returned nothing", items)
	}
	return d
}

// mbsyncPull pulls u's INBOX into a fresh local Maildir with mbsync, using
// its fastest settings (no fsync), and returns how long it took.
func mbsyncPull(b *testing.B, s *test.Server, u test.User, mbsync, work string) time.Duration {
	m := benchkit.NewMbsync(b, mbsync, s, u, s.TLSPort, "INBOX", filepath.Join(work, "mbsync"))
	m.Fresh(b)
	d := m.Pull(b)
	if n := benchkit.CountFiles(b, filepath.Join(m.Local, "INBOX", "cur")) + benchkit.CountFiles(b, filepath.Join(m.Local, "INBOX", "new")); n == 0 {
		b.Fatalf("mbsync pulled nothing into %s", m.Local)
	}
	return d
}

// peakRSS returns the VmHWM, in bytes, of the process serving mountpoint:
// the one whose last argument it is.
func peakRSS(b *testing.B, mountpoint string) int64 {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
		if args[len(args)-1] != mountpoint || strings.HasPrefix(filepath.Base(args[0]), "fusermount") {
			continue
		}
		status, err := os.ReadFile(filepath.Join(filepath.Dir(p), "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				return kb << 10
			}
		}
	}
	b.Fatalf("no process serves %s", mountpoint)
	return 0
}

var fuseRequestsRE = regexp.MustCompile(`fuse_requests="([^"]*)"`)

// fuseRequests returns what the unmounted filesystem said it served, e.g.
// "Lookup=10000 Open=10000 Read=20000".
func fuseRequests(b *testing.B, m *test.Mounted) string {
	match := fuseRequestsRE.FindStringSubmatch(m.Log())
	if match == nil {
		b.Fatalf("%s printed no fuse_requests at unmount:\n%s", m.Dir, m.Log())
	}
	return match[1]
}

func sumRequests(s string) int64 {
	var n int64
	for _, f := range strings.Fields(s) {
		_, v, _ := strings.Cut(f, "=")
		c, _ := strconv.ParseInt(v, 10, 64)
		n += c
	}
	return n
}

// logCounter reads a counter imapfs logs at unmount (body_fetches=N).
func logCounter(b *testing.B, m *test.Mounted, name string) int64 {
	match := regexp.MustCompile(`\b` + name + `=(\d+)`).FindStringSubmatch(m.Log())
	if match == nil {
		b.Fatalf("imapfs logged no %s at unmount:\n%s", name, m.Log())
	}
	n, _ := strconv.ParseInt(match[1], 10, 64)
	return n
}

// dovecotBodies sums body_count of u's sessions that Dovecot logged as
// ended after offset of its log.
func dovecotBodies(b *testing.B, s *test.Server, u test.User, offset int64) int64 {
	data, err := os.ReadFile(filepath.Join(s.Dir, "dovecot.log"))
	if err != nil {
		b.Fatal(err)
	}
	re := regexp.MustCompile(`imap\(` + regexp.QuoteMeta(u.Name) + `\).*Disconnected.*body_count=(\d+)`)
	var n int64
	for _, m := range re.FindAllStringSubmatch(string(data[min(offset, int64(len(data))):]), -1) {
		c, _ := strconv.ParseInt(m[1], 10, 64)
		n += c
	}
	return n
}

func fileSize(path string) int64 {
	info, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return info.Size()
}
