// Package rtt is the round-trip benchmark of imapfs: what real tools cost
// on a server 50 ms away, with mbsync pulling the same account through the
// same network as the anchor. The server is the harness's private Dovecot
// behind the harness's latency proxy (25 ms each way, no bandwidth limit);
// the account is one user with INBOX 2,000 messages, Work 500, Lists 500
// and 300 more mailboxes of one message each (~70 MB). Every imapfs
// measurement is on a fresh mount, and reports, next to its time, the IMAP
// commands imapfs sent, the round trips they cost at least (round_trips:
// the commands pipelined behind others share a round trip) and the
// bodies it fetched, from the root's user.imapfs.stats before and after,
// and the processor time each part spent (imapfs, the tool, the server,
// the proxy: benchkit.CPU), printed for the copies of INBOX against
// mbsync's pull.
// Run it as root, with test/setup's packages and Debian's isync (mbsync;
// without it the anchors alone are skipped):
//
//	go test -run '^$' -bench RTT -benchtime 1x -timeout 60m ./test/bench/rtt/
//
// RTT_ROUNDS (default 1) is the number of rounds the medians are taken
// over; RTT_DELAY_MS (default 25) the one-way delay; RTT_OPS (default
// all) a comma-separated choice of the operations to run: ls, find, du,
// cp, rsync-inbox, rsync-all (with its no-change run), cat, mbsync
// (INBOX and the whole account), mbsync-inbox (INBOX alone);
// RTT_IMAPFS_FLAGS flags for every mount (-d --log-file=F: where the
// time goes).
// docs/performance.md
// has the results and the targets. The package holds only this benchmark,
// so a plain `go test ./...` compiles it and runs nothing.
package rtt

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"imapfs/test"
	"imapfs/test/bench/benchkit"
)

func TestMain(m *testing.M) { test.Main(m) }

// The account of issue 12.
const (
	inboxMessages = 2000
	workMessages  = 500
	listsMessages = 500
	smallBoxes    = 300 // mailboxes of one message each
	totalMessages = inboxMessages + workMessages + listsMessages + smallBoxes
)

func BenchmarkRTT(b *testing.B) {
	test.RequireFUSE(b)
	for _, tool := range []string{"ls", "find", "du", "cp", "cat", "rsync"} {
		test.RequireTool(b, tool)
	}
	rounds := benchkit.EnvInt("RTT_ROUNDS", 1)
	ops := os.Getenv("RTT_OPS")
	runs := func(op string) bool { return ops == "" || slices.Contains(strings.Split(ops, ","), op) }
	delay := time.Duration(benchkit.EnvInt("RTT_DELAY_MS", 25)) * time.Millisecond
	mbsyncPath, mbsyncErr := exec.LookPath("mbsync")
	if mbsyncErr != nil {
		fmt.Println("rtt: mbsync is not installed: skipping the mbsync anchors alone (apt-get install isync)")
	}

	start := time.Now()
	s := test.StartDovecot(b)
	u := s.NewUser(b)
	work := b.TempDir()
	os.Chmod(work, 0o755)
	corpus := benchkit.NewCorpus(s, u)
	corpus.Add(b, "INBOX", inboxMessages)
	corpus.Add(b, "Work", workMessages)
	corpus.Add(b, "Lists", listsMessages)
	for i := range smallBoxes {
		corpus.Add(b, fmt.Sprintf("Box%03d", i+1), 1)
	}
	corpus.Index(b)
	fmt.Printf("rtt: %d messages in %d mailboxes, %.1f MB, seeded and indexed in %v\n",
		totalMessages, 3+smallBoxes, float64(corpus.Total)/1e6, time.Since(start).Round(time.Millisecond))

	proxy := test.StartProxy(b, s.TLSAddr(), test.ProxyOptions{Delay: delay})
	far := s.Via(proxy)
	test.Imapfs(b) // built now, not in the first mount's time
	flags := strings.Fields(os.Getenv("RTT_IMAPFS_FLAGS"))
	mount := func() (*test.Mounted, time.Duration) {
		t0 := time.Now()
		m := test.Mount(b, far, u, flags...)
		if _, err := os.Stat(m.Dir); err != nil {
			b.Fatal(err)
		}
		return m, time.Since(t0)
	}
	// A tool's run on a fresh mount; what it cost is in st under name.
	st := benchkit.Samples{}
	// The processor time of a run, by who spent it (see benchkit.CPU),
	// goes into st under name too.
	addCPU := func(name string, c benchkit.CPU) {
		st.Add(name+" cpu imapfs", c.Imapfs.Seconds())
		st.Add(name+" cpu tool", c.Tool.Seconds())
		st.Add(name+" cpu server", c.Server.Seconds())
		st.Add(name+" cpu proxy", c.Proxy.Seconds())
		st.Add(name+" cpu total", c.Total().Seconds())
	}
	measure := func(m *test.Mounted, name string, run func()) {
		before := mountStats(b, m)
		cpu := benchkit.TakeCPU(m.Pid(), s.Pid())
		t0 := time.Now()
		run()
		st.Add(name, time.Since(t0).Seconds())
		addCPU(name, benchkit.TakeCPU(m.Pid(), s.Pid()).Since(cpu))
		after := mountStats(b, m)
		st.Add(name+" commands", float64(after["commands"]-before["commands"]))
		st.Add(name+" round trips", float64(after["round_trips"]-before["round_trips"]))
		st.Add(name+" bodies", float64(after["bodies_fetched"]-before["bodies_fetched"]))
	}
	tool := func(name string, args ...string) func() {
		return func() { benchkit.Timed(b, name, args...) }
	}

	destLists := filepath.Join(work, "cp-lists")
	destInbox := filepath.Join(work, "rsync-inbox")
	destAll := filepath.Join(work, "rsync-all")
	var mbInbox, mbAll *benchkit.Mbsync
	if mbsyncErr == nil {
		mbInbox = benchkit.NewMbsync(b, mbsyncPath, s, u, proxy.Port, "INBOX", filepath.Join(work, "mbsync-inbox"))
		mbAll = benchkit.NewMbsync(b, mbsyncPath, s, u, proxy.Port, "*", filepath.Join(work, "mbsync-all"))
	}

	for round := range rounds {
		// Mount, then `ls -l` of the root, and again once the directory
		// attributes imapfs holds (1 s) have expired.
		if runs("ls") {
			m, d := mount()
			st.Add("mount", d.Seconds())
			st.Add("mount commands", float64(mountStats(b, m)["commands"]))
			st.Add("mount round trips", float64(mountStats(b, m)["round_trips"]))
			st.Add("mount bodies", float64(mountStats(b, m)["bodies_fetched"]))
			measure(m, "ls root", tool("ls", "-l", m.Dir))
			time.Sleep(2 * time.Second)
			measure(m, "ls root again", tool("ls", "-l", m.Dir))
			m.Unmount(b)
		}

		if runs("find") {
			m, _ := mount()
			measure(m, "find", tool("find", m.Dir, "-type", "f"))
			m.Unmount(b)
		}

		if runs("du") {
			m, _ := mount()
			measure(m, "du", tool("du", "-s", m.Dir))
			m.Unmount(b)
		}

		if runs("cp") {
			os.RemoveAll(destLists)
			m, _ := mount()
			measure(m, "cp lists", tool("cp", "-r", m.Dir+"/Lists", destLists))
			m.Unmount(b)
			if n := benchkit.CountFiles(b, destLists); n != listsMessages {
				b.Fatalf("cp -r of Lists copied %d messages, want %d", n, listsMessages)
			}
		}

		if runs("rsync-inbox") {
			os.RemoveAll(destInbox)
			m, _ := mount()
			measure(m, "rsync inbox", tool("rsync", "-a", m.Dir+"/INBOX/", destInbox+"/"))
			if n := benchkit.CountFiles(b, destInbox); n != inboxMessages {
				b.Fatalf("rsync -a of INBOX copied %d messages, want %d", n, inboxMessages)
			}
			// Again into an empty folder, every body in imapfs's memory
			// now and none in the kernel's page cache (dropped): what the
			// same copy costs without the server, its floor.
			os.RemoveAll(destInbox)
			benchkit.DropCaches(b)
			measure(m, "rsync inbox warm", tool("rsync", "-a", m.Dir+"/INBOX/", destInbox+"/"))
			m.Unmount(b)
		}

		if runs("rsync-all") {
			os.RemoveAll(destAll)
			m, _ := mount()
			measure(m, "rsync all", tool("rsync", "-a", m.Dir+"/", destAll+"/"))
			m.Unmount(b)
			if n := benchkit.CountFilesTree(b, destAll); n != totalMessages {
				b.Fatalf("rsync -a of the account copied %d messages, want %d", n, totalMessages)
			}

			m, _ = mount()
			measure(m, "rsync all again", tool("rsync", "-a", m.Dir+"/", destAll+"/"))
			m.Unmount(b)
		}

		if runs("cat") {
			// One message of a listed mailbox, neither the first nor the
			// last, which the listing cannot have brought along.
			m, _ := mount()
			benchkit.Timed(b, "ls", "-l", m.Dir+"/Work")
			names := listDir(b, m.Dir+"/Work")
			measure(m, "cat", tool("cat", filepath.Join(m.Dir, "Work", names[len(names)/2])))
			m.Unmount(b)
		}

		if mbsyncErr == nil && (runs("mbsync") || runs("mbsync-inbox")) {
			mbInbox.Fresh(b)
			cpu := benchkit.TakeCPU(0, s.Pid())
			st.Add("mbsync inbox", mbInbox.Pull(b).Seconds())
			addCPU("mbsync inbox", benchkit.TakeCPU(0, s.Pid()).Since(cpu))
			if n := countMaildirMessages(b, mbInbox.Local); n != inboxMessages {
				b.Fatalf("mbsync pulled %d messages of INBOX, want %d", n, inboxMessages)
			}
		}
		if mbsyncErr == nil && runs("mbsync") {
			mbAll.Fresh(b)
			st.Add("mbsync all", mbAll.Pull(b).Seconds())
			if n := countMaildirMessages(b, mbAll.Local); n != totalMessages {
				b.Fatalf("mbsync pulled %d messages of the account, want %d", n, totalMessages)
			}
			st.Add("mbsync all again", mbAll.Pull(b).Seconds())
		}
		fmt.Printf("rtt: round %d/%d done at %v:", round+1, rounds, time.Since(start).Round(time.Second))
		for _, k := range slices.Sorted(maps.Keys(st)) {
			fmt.Printf(" %s=%.4g", strings.ReplaceAll(k, " ", "_"), st[k][len(st[k])-1])
		}
		fmt.Println()
	}

	med := st.Median
	fmt.Printf("\nrtt: %d messages in %d mailboxes (%.1f MB), %v each way (%v round trip), medians of %d rounds, fresh mount for each\n\n",
		totalMessages, 3+smallBoxes, float64(corpus.Total)/1e6, delay, 2*delay, rounds)
	fmt.Printf("| what | imapfs | commands sent (round trips) | bodies fetched | target | met |\n|---|---|---|---|---|---|\n")
	row := func(what, name string, target float64, targetText string) {
		if len(st[name]) == 0 {
			return // not run (RTT_OPS)
		}
		met := "yes"
		if target <= 0 {
			met = "–"
		} else if med(name) > target {
			met = fmt.Sprintf("no (%.1f×)", med(name)/target)
		}
		fmt.Printf("| %s | %.2f s | %.0f (%.0f) | %.0f | %s | %s |\n", what, med(name), med(name+" commands"), med(name+" round trips"), med(name+" bodies"), targetText, met)
	}
	row("mount", "mount", 0.5, "≤ 0.5 s")
	row("`ls -l` of the root", "ls root", 2, "≤ 2 s")
	row("`ls -l` of the root again, 2 s later", "ls root again", 0.5, "≤ 0.5 s")
	row("`find MNT -type f`", "find", 5, "≤ 5 s")
	row("`du -s MNT`", "du", 5, "≤ 5 s")
	row("`cp -r MNT/Lists`", "cp lists", 3, "≤ 3 s")
	mbsyncTarget := func(name string, factor float64) (float64, string) {
		if len(st[name]) == 0 {
			return 0, "mbsync not measured"
		}
		if factor == 1 {
			return med(name), fmt.Sprintf("≤ %.2f s (mbsync)", med(name))
		}
		return med(name) * factor, fmt.Sprintf("≤ %.2f s (mbsync / 2)", med(name)*factor)
	}
	t, text := mbsyncTarget("mbsync inbox", 1)
	row("`rsync -a MNT/INBOX/` (cold)", "rsync inbox", t, text)
	t, text = mbsyncTarget("mbsync all", 0.5)
	row("`rsync -a MNT/` (cold)", "rsync all", t, text)
	t, text = mbsyncTarget("mbsync all again", 0.5)
	row("`rsync -a MNT/`, nothing changed", "rsync all again", t, text+", 0 bodies")
	if len(st["cat"]) > 0 {
		catMet := "yes"
		if med("cat commands") > 2 {
			catMet = "no"
		}
		fmt.Printf("| `cat` of one message of a listed mailbox | %.2f s | %.0f (%.0f) | %.0f | ≤ 2 round trips | %s |\n",
			med("cat"), med("cat commands"), med("cat round trips"), med("cat bodies"), catMet)
	}
	if len(st["mbsync all"]) > 0 {
		fmt.Printf("\n| mbsync through the same proxy | time |\n|---|---|\n")
		fmt.Printf("| pull INBOX into an empty Maildir | %.2f s |\n", med("mbsync inbox"))
		fmt.Printf("| pull the whole account into an empty Maildir | %.2f s |\n", med("mbsync all"))
		fmt.Printf("| the same, nothing changed | %.2f s |\n", med("mbsync all again"))
	}
	// Where the processor time went, for the runs that copy INBOX: on a
	// machine of few cores, the sum divided by the cores is as fast as a
	// run can be, however well its parts overlap.
	cpuRow := func(what, name string) {
		if len(st[name+" cpu total"]) == 0 {
			return
		}
		fmt.Printf("| %s | %.2f s | %.2f s | %.2f s | %.2f s | %.2f s | %.2f s | %.2f s |\n", what, med(name),
			med(name+" cpu imapfs"), med(name+" cpu tool"), med(name+" cpu server"), med(name+" cpu proxy"),
			med(name+" cpu total"), med(name+" cpu total")/float64(runtime.NumCPU()))
	}
	if len(st["rsync inbox cpu total"]) > 0 {
		fmt.Printf("\n| processor time, medians | wall | imapfs | tool | server | proxy | total | total / %d cores |\n|---|---|---|---|---|---|---|---|\n", runtime.NumCPU())
		cpuRow("`rsync -a MNT/INBOX/` (cold)", "rsync inbox")
		cpuRow("the same from imapfs's memory (warm)", "rsync inbox warm")
		cpuRow("mbsync's pull of INBOX", "mbsync inbox")
	}
	fmt.Printf("\nrtt: all samples (s, counts):\n")
	for _, k := range slices.Sorted(maps.Keys(st)) {
		fmt.Printf("  %-26s %v\n", k, st[k])
	}
	fmt.Printf("rtt: total %v\n", time.Since(start).Round(time.Second))

	for _, name := range []string{"mount", "ls root", "ls root again", "find", "du", "cp lists", "rsync inbox", "rsync all", "rsync all again", "cat"} {
		if len(st[name]) == 0 {
			continue
		}
		b.ReportMetric(med(name), strings.ReplaceAll(name, " ", "-")+"-s")
	}
}

// mountStats is the mount's statistics, with the counters the table
// needs.
func mountStats(b *testing.B, m *test.Mounted) map[string]int64 {
	stats := m.Stats(b)
	for _, k := range []string{"commands", "round_trips", "bodies_fetched"} {
		if _, ok := stats[k]; !ok {
			b.Fatalf("user.imapfs.stats of %s has no %s", m.Dir, k)
		}
	}
	return stats
}

func listDir(b *testing.B, dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) == 0 {
		b.Fatalf("%s is empty", dir)
	}
	return names
}

// countMaildirMessages counts the messages in the cur/ and new/ folders
// below dir (mbsync's sync state files are not messages).
func countMaildirMessages(b *testing.B, dir string) int {
	n := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if parent := filepath.Base(filepath.Dir(path)); d.Type().IsRegular() && (parent == "cur" || parent == "new") {
			n++
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}
