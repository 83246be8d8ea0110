package fs

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"imapfs/cache"
)

// A tool that walks the tree (find, du, rsync -r, ls -lR) enters one
// mailbox after another, and each first look at one costs round trips
// (EXAMINE, UID FETCH 1:*) that the tool waits for in turn. Once a walk
// is seen, the listings of the mailboxes after the one the tool entered,
// in the order it walks the directory (see walkOrder), are fetched in
// the background, many in one
// round trip (the store's ListAhead: the EXAMINE and FETCH of each
// mailbox of a batch pipelined on one connection), so that they are in
// the store by the time the tool gets there; a tool that gets to a
// mailbox of a batch still under way waits for its answer rather than
// ask again. A listing fetched ahead is an ordinary listing: the store
// checks it like any other and trusts it for --dir-cache-time.
//
// A walk is seen when the tool enters (reads) a mailbox of a directory
// right after reading that directory (within walkStartGap), as find, du
// and rsync do with the first child of every directory they walk, or
// enters a second mailbox of the same directory soon after the first
// (within treeWalkGap). A person who lists a directory and then looks
// into one mailbox takes longer than walkStartGap between the two; a
// person who runs ls -l on a directory reads no child. Nothing is
// fetched ahead for them.
//
// Bounds: at most one connection less than the pool has fetch ahead at
// once (the tool keeps one for itself; none with --connections 1), and
// no more listings are held ahead of the tool than one batch per
// fetching connection (a batch is the store's AheadBatch: 32 mailboxes,
// fewer when they hold many messages), so that they are still fresh when
// it arrives. A new batch starts once the tool has used up a whole batch
// worth of room, so batches are full (one round trip for many
// mailboxes), not one mailbox each. A listing costs ~50 bytes a message,
// a few KB for most mailboxes.
//
// A walk that reads the files it finds (rsync, cp -r, grep -r of a
// directory of mailboxes) would pay a round trip or two for each small
// mailbox it reads: once it has read a file, the batches of small
// mailboxes bring their bodies along (see the store's AheadBatch), into
// the body cache, both those fetched ahead of its entries (fetchAhead)
// and, for mailboxes listed already, ahead of its reads
// (fetchBodiesAhead), within the same bounds.

// walkStartGap is how soon after reading a directory the tool must enter
// one of its mailboxes for that to be the start of a walk.
const walkStartGap = time.Second

// treeWalkGap is how soon after entering a mailbox the tool must enter
// a sibling for that to be a walk: a person looking at two mailboxes a
// minute apart is not walking the tree.
const treeWalkGap = 10 * time.Second

// listingsAhead is the filesystem's state of the walks under way.
type listingsAhead struct {
	once  sync.Once
	slots chan struct{} // one per batch of listings being fetched ahead
	// lastRead is when a message file was last opened to be read (UnixNano): a walk
	// that reads files (rsync, cp -r, grep -r) has the bodies of small
	// mailboxes fetched with their listings.
	lastRead atomic.Int64

	mu sync.Mutex
	// read is, per directory, when the tool last read it.
	read map[string]time.Time
	// entered is, per directory, the child the tool entered last, and
	// when.
	entered map[string]enteredChild
	// walked is, per directory, when a walk of it was last seen.
	walked map[string]time.Time
	// ahead holds the mailboxes fetched (or being fetched: true) ahead of
	// the tool and not entered since.
	ahead map[string]bool
	// readMailbox is the mailbox the tool last read a message of; bodies holds
	// the mailboxes whose bodies were fetched (or are being fetched:
	// true) ahead of its reads and not read since.
	readMailbox string
	bodies      map[string]bool
}

type enteredChild struct {
	name string
	at   time.Time
}

// walkedInto is called when a tool reads the directory at path: it
// starts fetching the listings of the siblings ahead when that makes a
// walk. It does not wait for anything.
func (f *FS) walkedInto(path []string) {
	w := &f.ahead
	now := time.Now()
	w.mu.Lock()
	if w.read == nil {
		w.read = map[string]time.Time{}
		w.entered = map[string]enteredChild{}
		w.walked = map[string]time.Time{}
	}
	w.read[strings.Join(path, "/")] = now
	if len(path) == 0 {
		w.mu.Unlock()
		return
	}
	parent, name := strings.Join(path[:len(path)-1], "/"), path[len(path)-1]
	last, ok := w.entered[parent]
	readAt, parentRead := w.read[parent]
	w.entered[parent] = enteredChild{name: name, at: now}
	started := parentRead && now.Sub(readAt) < walkStartGap
	walking := ok && last.name != name && now.Sub(last.at) < treeWalkGap
	if started || walking {
		w.walked[parent] = now
	}
	w.mu.Unlock()
	if !started && !walking {
		return
	}
	prev := ""
	if walking {
		prev = last.name
	}
	go f.fetchAhead(slices.Clone(path), prev)
}

// fetchAhead starts fetching the listings of the mailboxes after path in
// its directory, in the order the tool walks it (see walkOrder), in
// batches as far as the bounds allow. prev is the sibling the tool
// entered before path, "" when path is the first.
func (f *FS) fetchAhead(path []string, prev string) {
	ctx, cancel := f.request(context.Background())
	defer cancel()
	self, next, err := f.walkOrder(ctx, path, prev)
	if err != nil || self == "" {
		return
	}
	w := &f.ahead
	if f.aheadSlots() == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ahead == nil {
		w.ahead = map[string]bool{}
	}
	delete(w.ahead, self)
	// Listings fetched ahead and gone stale (the tool went elsewhere)
	// make room.
	for m, fetching := range w.ahead {
		if !fetching && !f.store.ListingCurrent(m) {
			delete(w.ahead, m)
		}
	}
	var wanted []string
	for _, s := range next {
		if _, held := w.ahead[s]; !held && !f.store.ListingAtHand(s) {
			wanted = append(wanted, s)
		}
	}
	bodies := time.Since(time.Unix(0, w.lastRead.Load())) < treeWalkGap
	f.startBatches(wanted, bodies, w.ahead)
}

// aheadSlots is how many batches may be fetched ahead at once: one
// connection less than the pool has. With one connection there is none
// to spare: fetching ahead would only make the tool wait behind it.
func (f *FS) aheadSlots() int {
	w := &f.ahead
	w.once.Do(func() { w.slots = make(chan struct{}, f.store.Connections()-1) })
	return cap(w.slots)
}

// startBatches starts fetching the mailboxes wanted in batches (with
// their bodies when bodies is set and the store's AheadBatch says so),
// counting them in held (listingsAhead.ahead or .bodies) until they are
// entered, as long as held leaves room for a whole batch (or for the
// rest of the directory): else the tool must first use up more.
// listingsAhead.mu is held.
func (f *FS) startBatches(wanted []string, bodies bool, held map[string]bool) {
	window := f.aheadSlots() * cache.AheadBatchMailboxes
	for len(wanted) > 0 {
		n, withBodies := f.store.AheadBatch(wanted, bodies)
		if len(held) > 0 && len(held)+n > window {
			break
		}
		batch := wanted[:n:n]
		wanted = wanted[n:]
		for _, m := range batch {
			held[m] = true
		}
		go f.fetchBatchAhead(batch, withBodies, held)
	}
}

// readInto is called when a tool opens a message of mailbox to read it
// (once per open, not per read: reads are the hot path). When a
// walk of the mailbox's directory is under way (see walkedInto) and
// reads messages mailbox after mailbox (rsync -a, cp -r, grep -r of the
// directory), the bodies of the small mailboxes it will read next are
// fetched with their listings, in batches, as the listings are (see
// fetchAhead). A tool that reads one mailbox (cp -r of it, cat) walks
// no directory of mailboxes: nothing is fetched for it. It does not
// wait for anything.
func (f *FS) readInto(mailbox string) {
	w := &f.ahead
	w.lastRead.Store(time.Now().UnixNano())
	w.mu.Lock()
	prev := w.readMailbox
	w.readMailbox = mailbox
	w.mu.Unlock()
	if prev != mailbox {
		go f.fetchBodiesAhead(mailbox, prev)
	}
}

// fetchBodiesAhead starts fetching the bodies of the small mailboxes
// after mailbox in its directory, in the order the tool reads them
// (prev is the mailbox it read before), as far as the bounds allow.
func (f *FS) fetchBodiesAhead(mailbox, prev string) {
	ctx, cancel := f.request(context.Background())
	defer cancel()
	folders, err := f.store.Folders(ctx)
	if err != nil {
		return
	}
	var path, prevPath []string
	for i, names := range f.folderNames(folders) {
		switch folders[i].Name {
		case mailbox:
			path = names
		case prev:
			prevPath = names
		}
	}
	if len(path) == 0 {
		return
	}
	prevName := ""
	if len(prevPath) == len(path) && hasPrefix(prevPath, path[:len(path)-1]) {
		prevName = prevPath[len(prevPath)-1]
	}
	w := &f.ahead
	w.mu.Lock()
	walked, ok := w.walked[strings.Join(path[:len(path)-1], "/")]
	w.mu.Unlock()
	if !ok || time.Since(walked) >= treeWalkGap {
		return
	}
	self, next, err := f.walkOrder(ctx, path, prevName)
	if err != nil || self == "" {
		return
	}
	if f.aheadSlots() == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.bodies == nil {
		w.bodies = map[string]bool{}
	}
	delete(w.bodies, self)
	for m, fetching := range w.bodies {
		if !fetching && !f.store.BodiesAtHand(m) {
			delete(w.bodies, m)
		}
	}
	var wanted []string
	for _, s := range next {
		// (Not those whose listing is being fetched ahead: that batch
		// brings their bodies if any does.)
		if _, held := w.bodies[s]; !held && !w.ahead[s] && f.store.SmallMailbox(s) && !f.store.BodiesAtHand(s) {
			wanted = append(wanted, s)
		}
	}
	f.startBatches(wanted, true, w.bodies)
}

// fetchBatchAhead fetches a batch of listings into the store, and the
// bodies of their messages too when withBodies is set; held is the map
// (listingsAhead.ahead or .bodies) that counts the batch's mailboxes
// as being fetched, under listingsAhead.mu.
func (f *FS) fetchBatchAhead(batch []string, withBodies bool, held map[string]bool) {
	w := &f.ahead
	w.slots <- struct{}{}
	defer func() { <-w.slots }()
	ctx, cancel := f.request(context.Background())
	defer cancel()
	err := f.store.ListAhead(ctx, batch, withBodies)
	if err != nil {
		// The tool will ask itself when it gets there, and be told.
		f.log.Debug("fetching listings ahead of a walk failed", "mailboxes", len(batch), "err", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range batch {
		if _, ok := held[m]; !ok {
			continue // entered (or read) meanwhile
		}
		if err != nil {
			delete(held, m)
			continue
		}
		held[m] = false
	}
}

// walkOrder returns the mailbox (the server's name) at path, "" when it
// holds no messages, and the mailboxes of its directory that hold
// messages and that the tool will enter after it, in the order it walks
// the directory. Tools walk a directory in one of two orders: as it is
// read (find, du) or sorted by name (rsync, ls -R). The order is the one
// in which the tool's entries so far come one after the other: prev
// before path, or, for the first entry, path first; the directory's own
// when both or neither fit.
func (f *FS) walkOrder(ctx context.Context, path []string, prev string) (self string, next []string, err error) {
	folders, err := f.store.Folders(ctx)
	if err != nil {
		return "", nil, err
	}
	type sibling struct{ name, mailbox string }
	var read []sibling
	parent, name := path[:len(path)-1], path[len(path)-1]
	for i, names := range f.folderNames(folders) {
		if len(names) == len(path) && hasPrefix(names, parent) && folders[i].Selectable {
			read = append(read, sibling{names[len(path)-1], folders[i].Name})
		}
	}
	byName := slices.SortedFunc(slices.Values(read), func(a, b sibling) int { return strings.Compare(a.name, b.name) })
	index := func(order []sibling, name string) int {
		return slices.IndexFunc(order, func(s sibling) bool { return s.name == name })
	}
	order := read
	for _, o := range [][]sibling{read, byName} {
		i, j := index(o, name), index(o, prev)
		if prev == "" && i == 0 || prev != "" && j >= 0 && j < i {
			order = o
			break
		}
	}
	i := index(order, name)
	if i < 0 {
		return "", nil, nil
	}
	for _, s := range order[i+1:] {
		next = append(next, s.mailbox)
	}
	return order[i].mailbox, next, nil
}
