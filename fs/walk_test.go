package fs_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"imapfs/test"
)

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
			before := m.Stats(t)
			got := tool.walk(m.Dir)
			after := m.Stats(t)
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
	if n := m.Stats(t)["listings"]; n != 0 {
		t.Errorf("ls of the root fetched %d listings; want none", n)
	}
	run(t, "ls", filepath.Join(m.Dir, "walk00"), filepath.Join(m.Dir, "walk01"))
	// The listings ahead come in the background: wait for more than the
	// two asked for.
	deadline := time.Now().Add(20 * time.Second)
	for m.Stats(t)["listings"] < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("no listing was fetched ahead of the walk: %v", m.Stats(t))
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := findFiles(t, m.Dir)
	after := m.Stats(t)
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

// find over many mailboxes, on a fresh mount, costs a few round trips
// for all their listings, not one or two each: the listings ahead come
// in batches, each mailbox's EXAMINE and UID FETCH pipelined with the
// others'. Another client adds a message to every mailbox while a batch
// is under way (its third FETCH held from the server until then): every
// mailbox shows the messages it held either before or after, each with
// its own size (a message taken for another mailbox's would show
// another's size), and each listing is fetched once (but the one held).
func TestFindListsManyMailboxesInFewRoundTrips(t *testing.T) {
	s := test.StartDovecotWith(t, test.DovecotOptions{NoTLS: true}) // for the proxy to see the commands
	u := s.NewUser(t)
	const boxes = 80
	name := func(box int) string { return fmt.Sprintf("many%02d", box) }
	// The body's length makes each mailbox's sizes its own.
	message := func(box, k int) test.Message {
		return test.Message{Body: fmt.Appendf(nil, "Subject: %d-%d\r\n\r\n%s\r\n", box, k, strings.Repeat("x", 50*box+k))}
	}
	// held[mailbox] is "UID.eml size" of every message, sorted, before
	// and after the other client's arrivals.
	held := func() map[string][]string {
		all := map[string][]string{}
		for box := range boxes {
			for _, m := range s.Messages(t, u, s.Personal(name(box))) {
				all[name(box)] = append(all[name(box)], fmt.Sprintf("%d.eml %d", m.UID, m.Size))
			}
		}
		return all
	}
	for box := range boxes {
		s.CreateMailbox(t, u, s.Personal(name(box)))
		for k := range 1 + box%3 {
			s.Seed(t, u, s.Personal(name(box)), message(box, k))
		}
	}
	before := held()
	p := test.StartProxy(t, s.Addr(), test.ProxyOptions{})
	m := mountPlainVia(t, p, u)
	statsBefore := m.Stats(t)

	stall := p.Arm(test.Fault{Command: "UID FETCH", Nth: 3, Stall: true, Dir: test.ToServer})
	arrived := make(chan error, 1)
	go func() {
		<-stall.Fired()
		defer stall.Release()
		raw := s.Session(t, u)
		for box := range boxes {
			if _, err := raw.Append(s.Personal(name(box)), message(box, 10)); err != nil {
				arrived <- err
				return
			}
		}
		arrived <- nil
	}()
	out := run(t, "find", m.Dir, "-type", "f", "-printf", "%P %s\n")
	select {
	case err := <-arrived:
		if err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("the walk sent fewer than 3 UID FETCH commands: %v", m.Stats(t))
	}
	after := held()
	statsAfter := m.Stats(t)

	seen := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		box, file, _ := strings.Cut(line, "/")
		seen[box] = append(seen[box], file)
	}
	for box := range boxes {
		got := seen[name(box)]
		slices.SortFunc(got, func(a, b string) int { return strings.Compare(a, b) })
		b, a := slices.Clone(before[name(box)]), slices.Clone(after[name(box)])
		slices.Sort(b)
		slices.Sort(a)
		if !slices.Equal(got, b) && !slices.Equal(got, a) {
			t.Errorf("find saw in %s\n%q\nthe server held\n%q before the arrival,\n%q after", name(box), got, b, a)
		}
	}
	if _, ok := statsAfter["round_trips"]; !ok {
		t.Fatalf("no round_trips in the mount's stats: %v", statsAfter)
	}
	roundTrips := statsAfter["round_trips"] - statsBefore["round_trips"]
	commands := statsAfter["commands"] - statsBefore["commands"]
	listings := statsAfter["listings"] - statsBefore["listings"]
	t.Logf("find over %d mailboxes: %d commands, %d round trips, %d listings, %d selects",
		boxes, commands, roundTrips, listings, statsAfter["selects"]-statsBefore["selects"])
	// Each once, but for the mailbox whose FETCH was held: the arrival
	// under it leaves its listing unsettled, and its next look may
	// fetch it whole again.
	if listings < boxes || listings > boxes+1 {
		t.Errorf("%d whole listings fetched for %d mailboxes; want each once (one of them twice at most)", listings, boxes)
	}
	if roundTrips > boxes/4 {
		t.Errorf("find over %d mailboxes cost %d round trips (%d commands); want at most %d", boxes, roundTrips, commands, boxes/4)
	}
}

// rsync -a of many small mailboxes, on a fresh mount, reads every body
// at a few round trips in all: once it has read a file, the small
// mailboxes it reads next come in batches with their bodies. The copies
// are the server's bytes. cp -r of one mailbox fetches nothing ahead.
func TestRsyncBringsSmallBodiesWithListings(t *testing.T) {
	test.RequireTool(t, "rsync")
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	const boxes = 60
	for box := range boxes {
		name := fmt.Sprintf("small%02d", box)
		s.CreateMailbox(t, u, s.Personal(name))
		s.Seed(t, u, s.Personal(name), test.Message{Body: fmt.Appendf(nil, "Subject: %d\r\n\r\n%s\r\n", box, strings.Repeat("y", 100*box))})
	}
	// A tool that reads one mailbox walks no directory of mailboxes:
	// nothing is fetched ahead of it.
	one := test.Mount(t, s, u)
	run(t, "cp", "-r", filepath.Join(one.Dir, "small05"), t.TempDir())
	time.Sleep(2 * time.Second) // for what would be fetched in the background
	if st := one.Stats(t); st["bodies_fetched"] != 1 || st["listings"] != 1 {
		t.Errorf("cp -r of one mailbox of one message fetched %d bodies and %d listings; want 1 and 1", st["bodies_fetched"], st["listings"])
	}

	m := test.Mount(t, s, u)
	before := m.Stats(t)
	backup := t.TempDir()
	run(t, "rsync", "-a", m.Dir+"/", backup+"/")
	after := m.Stats(t)
	for box := range boxes {
		name := fmt.Sprintf("small%02d", box)
		for _, sm := range s.Messages(t, u, s.Personal(name)) {
			got, err := os.ReadFile(filepath.Join(backup, name, fmt.Sprintf("%d.eml", sm.UID)))
			if want := s.Body(t, u, s.Personal(name), sm.UID); err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s/%d.eml: %d bytes, %v; the server holds %d", name, sm.UID, len(got), err, len(want))
			}
		}
	}
	if _, ok := after["round_trips"]; !ok {
		t.Fatalf("no round_trips in the mount's stats: %v", after)
	}
	roundTrips := after["round_trips"] - before["round_trips"]
	bodies := after["bodies_fetched"] - before["bodies_fetched"]
	t.Logf("rsync -a of %d mailboxes of one message: %d commands, %d round trips, %d bodies fetched, %d selects",
		boxes, after["commands"]-before["commands"], roundTrips, bodies, after["selects"]-before["selects"])
	if bodies != boxes {
		t.Errorf("%d bodies fetched for %d messages; want each once", bodies, boxes)
	}
	if roundTrips > boxes/3 {
		t.Errorf("rsync -a of %d mailboxes cost %d round trips; want at most %d", boxes, roundTrips, boxes/3)
	}
}
