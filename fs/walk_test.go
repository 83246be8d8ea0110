package fs_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"imapfs/test"
)

// mountStats reads the root's user.imapfs.stats into numbers by key.
func mountStats(t *testing.T, m *test.Mounted) map[string]int64 {
	t.Helper()
	out := run(t, "getfattr", "--absolute-names", "--only-values", "-n", "user.imapfs.stats", m.Dir)
	stats := map[string]int64{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, ok := strings.Cut(line, "=")
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || err != nil {
			t.Fatalf("not a key=number line: %q", line)
		}
		stats[k] = n
	}
	return stats
}

// walkAccount makes an account of n mailboxes (walk00, walk01, ...)
// holding one to three messages each, and returns the files a walk of the
// mount must find: mailbox/UID.eml, sorted.
func walkAccount(t *testing.T, s *test.Server, u test.User, n int) []string {
	t.Helper()
	var want []string
	for i := range n {
		name := fmt.Sprintf("walk%02d", i)
		s.CreateMailbox(t, u, s.Personal(name))
		for _, uid := range seedSome(t, s, u, s.Personal(name), 1+i%3) {
			want = append(want, fmt.Sprintf("%s/%d.eml", name, uid))
		}
	}
	for _, m := range s.Messages(t, u, "INBOX") {
		want = append(want, fmt.Sprintf("INBOX/%d.eml", m.UID))
	}
	slices.Sort(want)
	return want
}

// mailboxesIn counts the mailboxes that hold the files of a walk
// (mailbox/UID.eml): those that need a listing, an empty one needing
// none.
func mailboxesIn(files []string) int64 {
	boxes := map[string]bool{}
	for _, f := range files {
		boxes[filepath.Dir(f)] = true
	}
	return int64(len(boxes))
}

// findFiles runs find DIR -type f and returns the paths under DIR, sorted.
func findFiles(t *testing.T, dir string) []string {
	t.Helper()
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(run(t, "find", dir, "-type", "f")), "\n") {
		if rel, err := filepath.Rel(dir, line); err == nil && line != "" {
			got = append(got, rel)
		}
	}
	slices.Sort(got)
	return got
}

// filesUnder returns the regular files under dir, relative to it, sorted.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var got []string
	err := filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, path)
			got = append(got, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	return got
}

// The tools that walk the tree, on a fresh mount, fetch each mailbox's
// listing once, see exactly the server's messages, and cost few commands
// per mailbox.
func TestWalkingToolsFetchEachListingOnce(t *testing.T) {
	test.RequireTool(t, "rsync")
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	const boxes = 40
	want := walkAccount(t, s, u, boxes)
	selectable := mailboxesIn(want) // an empty INBOX needs no listing
	for _, tool := range []struct {
		name string
		// walk runs the tool over the mount; it returns what the tool
		// saw, nil when that is not checked.
		walk func(dir string) []string
		// listingOnly: the tool reads no bodies nor stats the mailbox
		// directories before it enters them, so its commands are the
		// listings'. (ls -lR and rsync stat every directory first:
		// each costs a FETCH for its mtime until those come in bulk.)
		listingOnly bool
	}{
		{"find", func(dir string) []string { return findFiles(t, dir) }, true},
		{"du", func(dir string) []string {
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(run(t, "du", "-a", dir)), "\n") {
				if _, path, ok := strings.Cut(line, "\t"); ok && strings.HasSuffix(path, ".eml") {
					rel, _ := filepath.Rel(dir, path)
					got = append(got, rel)
				}
			}
			slices.Sort(got)
			return got
		}, true},
		{"ls -lR", func(dir string) []string { run(t, "ls", "-lR", dir); return nil }, false},
		{"rsync -r", func(dir string) []string {
			backup := t.TempDir()
			run(t, "rsync", "-r", dir+"/", backup+"/")
			return filesUnder(t, backup)
		}, false},
	} {
		t.Run(strings.ReplaceAll(tool.name, " ", "_"), func(t *testing.T) {
			m := test.Mount(t, s, u)
			before := mountStats(t, m)
			got := tool.walk(m.Dir)
			after := mountStats(t, m)
			if got != nil && !slices.Equal(got, want) {
				t.Errorf("%s saw\n%q\nthe server holds\n%q", tool.name, got, want)
			}
			listings := after["listings"] - before["listings"]
			commands := after["commands"] - before["commands"]
			t.Logf("%s over %d mailboxes: %d commands (%.2f a mailbox), %d listings, %d refreshes, %d selects",
				tool.name, selectable, commands, float64(commands)/float64(selectable), listings,
				after["listing_refreshes"]-before["listing_refreshes"], after["selects"]-before["selects"])
			if listings != selectable {
				t.Errorf("%s fetched %d whole listings for %d mailboxes; want each once", tool.name, listings, selectable)
			}
			// EXAMINE, UID FETCH 1:* and, where the listing is not yet
			// at hand when the tool looks the directory up, a NOOP and
			// the FETCH of the last message for its mtime.
			if max := 3 * selectable; tool.listingOnly && commands > max {
				t.Errorf("%s sent %d commands for %d mailboxes; want at most %d", tool.name, commands, selectable, max)
			}
		})
	}
}

// Once a tool enters one mailbox of a directory, the listings of its
// siblings are fetched before the tool asks, and the walk uses them
// without asking the server again.
func TestWalkFetchesListingsAhead(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	const boxes = 12
	want := walkAccount(t, s, u, boxes)
	m := test.Mount(t, s, u, "--dir-cache-time", "1h")
	run(t, "ls", m.Dir)
	if n := mountStats(t, m)["listings"]; n != 0 {
		t.Errorf("ls of the root fetched %d listings; want none", n)
	}
	run(t, "ls", filepath.Join(m.Dir, "walk00"), filepath.Join(m.Dir, "walk01"))
	// The listings ahead come in the background: wait for more than the
	// two asked for.
	deadline := time.Now().Add(20 * time.Second)
	for mountStats(t, m)["listings"] < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("no listing was fetched ahead of the walk: %v", mountStats(t, m))
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := findFiles(t, m.Dir)
	after := mountStats(t, m)
	if !slices.Equal(got, want) {
		t.Errorf("find saw\n%q\nthe server holds\n%q", got, want)
	}
	if n := after["listings"]; n != mailboxesIn(want) {
		t.Errorf("%d whole listings fetched for %d mailboxes; want each once", n, mailboxesIn(want))
	}
	if n := after["listing_refreshes"]; n != 0 {
		t.Errorf("the walk refreshed %d listings fetched ahead; want none within --dir-cache-time", n)
	}
}
