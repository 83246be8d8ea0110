package fs

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// A tool that walks the tree (find, du, rsync -r, ls -lR) enters one
// mailbox after another, and each first look at one costs round trips
// (EXAMINE, UID FETCH 1:*) that the tool waits for in turn. Once it has
// entered two mailboxes of the same directory, the listings of the
// siblings after them are fetched in the background, several at once
// over the pool's connections, so that they are in the store by the time
// the tool gets there. A listing fetched ahead is an ordinary listing:
// the store checks it like any other and trusts it for --dir-cache-time.
//
// Bounds: at most one connection less than the pool has fetch ahead at
// once (the tool keeps one for itself; none with --connections 1), and
// no more listings are held ahead of the tool than walkAheadDepth per
// fetching connection, so that they are still fresh when it arrives. A
// listing costs ~50 bytes a message, a few KB for most mailboxes.

// walkAheadDepth is how many listings per background connection may wait
// ahead of the tool.
const walkAheadDepth = 4

// treeWalkGap is how soon after entering a mailbox the tool must enter a
// sibling for that to be a walk: a person looking at two mailboxes a
// minute apart is not walking the tree.
const treeWalkGap = 10 * time.Second

// listingsAhead is the filesystem's state of the walks under way.
type listingsAhead struct {
	once  sync.Once
	slots chan struct{} // one per listing being fetched ahead

	mu sync.Mutex
	// entered is, per directory, the child the tool entered last, and
	// when.
	entered map[string]enteredChild
	// ahead holds the mailboxes fetched (or being fetched: true) ahead of
	// the tool and not entered since.
	ahead map[string]bool
}

type enteredChild struct {
	name string
	at   time.Time
}

// walkedInto is called when a tool reads the directory at path: it
// starts fetching the listings of the siblings ahead when that makes a
// walk. It does not wait for anything.
func (f *FS) walkedInto(path []string) {
	if len(path) == 0 {
		return
	}
	parent, name := strings.Join(path[:len(path)-1], "/"), path[len(path)-1]
	w := &f.ahead
	w.mu.Lock()
	last, ok := w.entered[parent]
	if w.entered == nil {
		w.entered = map[string]enteredChild{}
	}
	w.entered[parent] = enteredChild{name: name, at: time.Now()}
	w.mu.Unlock()
	if !ok || last.name == name || time.Since(last.at) > treeWalkGap {
		return
	}
	go f.fetchAhead(slices.Clone(path))
}

// fetchAhead starts fetching the listings of the mailboxes after path in
// its directory, in the order the directory lists them, as far as the
// bounds allow.
func (f *FS) fetchAhead(path []string) {
	ctx, cancel := f.request(context.Background())
	defer cancel()
	siblings, self, err := f.siblings(ctx, path)
	if err != nil || self < 0 {
		return
	}
	w := &f.ahead
	// With one connection there is none to spare: fetching ahead would
	// only make the tool wait behind it.
	w.once.Do(func() { w.slots = make(chan struct{}, f.store.Connections()-1) })
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ahead == nil {
		w.ahead = map[string]bool{}
	}
	delete(w.ahead, siblings[self])
	// Listings fetched ahead and gone stale (the tool went elsewhere)
	// make room.
	for m, fetching := range w.ahead {
		if !fetching && !f.store.ListingCurrent(m) {
			delete(w.ahead, m)
		}
	}
	room := walkAheadDepth*cap(w.slots) - len(w.ahead)
	for _, s := range siblings[self+1:] {
		if room <= 0 {
			break
		}
		if _, held := w.ahead[s]; held || f.store.ListingCurrent(s) {
			continue
		}
		w.ahead[s] = true
		room--
		go f.fetchListingAhead(s)
	}
}

// fetchListingAhead fetches one mailbox's listing into the store.
func (f *FS) fetchListingAhead(mailbox string) {
	w := &f.ahead
	w.slots <- struct{}{}
	defer func() { <-w.slots }()
	ctx, cancel := f.request(context.Background())
	defer cancel()
	_, err := f.store.Listing(ctx, mailbox)
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, held := w.ahead[mailbox]; !held {
		return // entered meanwhile
	}
	if err != nil {
		// The tool will ask itself when it gets there, and be told.
		f.log.Debug("fetching a listing ahead of a walk failed", "mailbox", mailbox, "err", err)
		delete(w.ahead, mailbox)
		return
	}
	w.ahead[mailbox] = false
}

// siblings lists the mailboxes (the server's names) of path's directory
// that hold messages, in the directory's order, and the index of path's
// own among them (-1 when it is not one).
func (f *FS) siblings(ctx context.Context, path []string) (siblings []string, self int, err error) {
	folders, err := f.store.Folders(ctx)
	if err != nil {
		return nil, -1, err
	}
	parent, name := path[:len(path)-1], path[len(path)-1]
	self = -1
	for i, names := range f.folderNames(folders) {
		if len(names) != len(path) || !hasPrefix(names, parent) || !folders[i].Selectable {
			continue
		}
		if names[len(path)-1] == name {
			self = len(siblings)
		}
		siblings = append(siblings, folders[i].Name)
	}
	return siblings, self, nil
}
