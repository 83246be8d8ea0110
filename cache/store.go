package cache

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"imapfs/imapclient"
	"imapfs/imapclient/imapwire"
)

// BlockSize is the unit in which bodies are fetched and cached: a message
// up to this size is fetched whole in one round trip, a larger one in
// windows of this size.
const BlockSize = 1 << 20

// Errors a reader of the store can meet besides the server's own.
var (
	// ErrGone: the message was expunged.
	ErrGone = errors.New("message no longer exists")
	// ErrStale: the mailbox's UIDVALIDITY changed, so every UID the caller
	// holds means nothing any more.
	ErrStale = errors.New("mailbox UIDVALIDITY changed")
)

// Config configures a Store.
type Config struct {
	Pool      *imapclient.Pool
	CacheSize int64         // bytes of bodies kept in memory
	Disk      *Disk         // the disk cache under it; nil for none
	TTL       time.Duration // how long a listing is trusted without asking the server
	Logger    *slog.Logger
	// ExpungeAllDeleted allows a plain EXPUNGE where the server has no
	// UIDPLUS (see mountopts.Config).
	ExpungeAllDeleted bool
}

// Store is what imapfs knows of the account: the mailboxes, each
// mailbox's messages, and message bodies, kept fresh from the server.
type Store struct {
	pool   *imapclient.Pool
	bodies *Bodies
	disk   *Disk
	log    *slog.Logger
	ttl    time.Duration

	expungeAllDeleted bool
	// listStatusRefused: the server refused LIST-STATUS once.
	listStatusRefused atomic.Bool
	// esearchRefused: the server refused UID SEARCH RETURN once.
	esearchRefused atomic.Bool

	// foldersMu: one refresh of the folder list at a time.
	foldersMu sync.Mutex
	mu        sync.Mutex
	folders   []Folder
	foldersAt time.Time
	// states is the Status of each mailbox in folders, by name.
	states map[string]*imapclient.StatusData
	// started and dirTimes make directory mtimes (see DirTime).
	started  time.Time
	dirTimes map[string]dirTime
	boxes    map[string]*mailbox
	inflight map[BodyKey]*blockFetch
	// prefetchSent is, per mailbox, closed once the last prefetch asked
	// for it was sent (see Prefetch).
	prefetchSent map[string]chan struct{}
	// uncertainCopies are moves whose COPY was cut off: the copy may be
	// in the target.
	uncertainCopies map[moveKey]copyPlace
	// appends is what Append keeps between uploads.
	appends appendState
	// outage: the server could not be reached (see staleListing).
	outage outage

	stats Stats
}

// Stats counts what the store asked of the server.
type Stats struct {
	ListingFetches atomic.Int64 // full UID FETCH 1:* metadata listings
	Refreshes      atomic.Int64 // incremental refreshes
	BodyFetches    atomic.Int64 // body blocks fetched (prefetched ones included)
	Prefetches     atomic.Int64 // bulk prefetch commands
	BodyBytes      atomic.Int64 // body bytes fetched
	DiskHits       atomic.Int64 // body blocks read from the disk cache
}

// New makes a Store.
func New(cfg Config) *Store {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{
		pool:   cfg.Pool,
		bodies: NewBodies(cfg.CacheSize),
		disk:   cfg.Disk,
		log:    log,
		ttl:    cfg.TTL,

		expungeAllDeleted: cfg.ExpungeAllDeleted,
		boxes:             map[string]*mailbox{},
		inflight:          map[BodyKey]*blockFetch{},
		prefetchSent:      map[string]chan struct{}{},
		started:           time.Now().Truncate(time.Second),
		dirTimes:          map[string]dirTime{},
	}
}

// Stats returns the store's counters.
func (s *Store) Stats() *Stats { return &s.stats }

// Folder is one mailbox of the account, as LIST shows it.
type Folder struct {
	Name       string   // the server's name, decoded to UTF-8
	Delimiter  string   // the hierarchy delimiter, "" if flat
	Path       []string // Name split at the hierarchy delimiter
	Selectable bool     // not \Noselect or \NonExistent: it holds messages
	Attributes []string // as LIST gives them (\HasChildren, \Sent, ...)
	// Status is the mailbox's state when the list was fetched (see
	// folderStatusItems); nil where the server gave none (not
	// selectable, or a STATUS it refused).
	Status *imapclient.StatusData
}

// Folders returns every mailbox of the account with its state, refreshed
// when older than the TTL: one LIST "" "*" RETURN (STATUS (...)) where the
// server has LIST-STATUS, else a LIST and STATUS commands pipelined (see
// listWithStatus), so that the directories of every mailbox cost a round
// trip or two together, not a few each.
func (s *Store) Folders(ctx context.Context) ([]Folder, error) {
	if f := s.freshFolders(); f != nil {
		return f, nil
	}
	if f := s.foldersWhileAway(); f != nil {
		return f, nil
	}
	s.foldersMu.Lock()
	defer s.foldersMu.Unlock()
	if f := s.freshFolders(); f != nil {
		return f, nil // refreshed while we waited
	}
	// The list is as of no earlier than this (see unchanged).
	asked := time.Now()
	var infos []*imapclient.MailboxInfo
	err := s.readAny(ctx, func(c *imapclient.Client) error {
		var err error
		asked = time.Now()
		infos, err = s.listWithStatus(ctx, c)
		return err
	})
	if err != nil {
		if held := s.staleFolders(err); held != nil {
			return held, nil
		}
		return nil, err
	}
	s.answered()
	folders := make([]Folder, 0, len(infos))
	for _, info := range infos {
		path := []string{info.Name}
		if info.Delimiter != "" {
			path = strings.Split(info.Name, info.Delimiter)
		}
		folders = append(folders, Folder{
			Name: info.Name, Delimiter: info.Delimiter, Path: path,
			Selectable: !info.HasAttr(imapclient.AttrNoSelect) && !info.HasAttr(imapclient.AttrNonExistent),
			Attributes: info.Attributes,
			Status:     info.Status,
		})
	}
	states := make(map[string]*imapclient.StatusData, len(folders))
	for _, f := range folders {
		if f.Status != nil {
			states[f.Name] = f.Status
		}
	}
	s.mu.Lock()
	s.folders, s.foldersAt, s.states = folders, asked, states
	s.mu.Unlock()
	return folders, nil
}

// heldState is the mailbox's state in the folder list held now, however
// old, and when it was fetched; nil if none.
func (s *Store) heldState(mailbox string) (*imapclient.StatusData, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.folders == nil || s.foldersAt.IsZero() {
		return nil, time.Time{}
	}
	return s.states[mailbox], s.foldersAt
}

// sameState reports whether two states of a mailbox show that nothing
// changed in between: an arrival moves UIDNEXT, an expunge MESSAGES or
// (with arrivals) UIDNEXT, a flag change HIGHESTMODSEQ. Without
// HIGHESTMODSEQ (no CONDSTORE) flag changes do not show, so nothing is
// vouched for.
func sameState(a, b *imapclient.StatusData) bool {
	return a != nil && b != nil && a.Has(imapclient.StatusHighestModSeq) && b.Has(imapclient.StatusHighestModSeq) &&
		a.UIDValidity == b.UIDValidity && a.UIDNext == b.UIDNext && a.Messages == b.Messages && a.HighestModSeq == b.HighestModSeq
}

// freshFolders is the folder list if it may be trusted without asking.
func (s *Store) freshFolders() []Folder {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.folders != nil && time.Since(s.foldersAt) < s.ttl {
		return s.folders
	}
	return nil
}

// folderStatusItems is what the folder list asks of every mailbox: enough
// to tell whether its listing changed without selecting it (an arrival
// moves UIDNEXT, an expunge lowers MESSAGES), and HIGHESTMODSEQ, which
// moves with flags too, where the server has CONDSTORE.
func folderStatusItems(c *imapclient.Client) []string {
	items := []string{imapclient.StatusMessages, imapclient.StatusUIDNext, imapclient.StatusUIDValidity}
	if c.Has("CONDSTORE") {
		items = append(items, imapclient.StatusHighestModSeq)
	}
	return items
}

// statusPipeline is how many STATUS commands listWithStatus keeps
// outstanding at once.
const statusPipeline = 64

// listWithStatus lists every mailbox with its state (Status): with
// LIST-STATUS in one command; without, with one STATUS per mailbox after
// the LIST, pipelined on the connection (STATUS answers name their
// mailbox). A selectable mailbox the LIST-STATUS answer left without
// STATUS (RFC 5819 lets a server omit the selected one) gets its own. A
// mailbox whose STATUS fails otherwise than with the connection keeps
// none.
//
// The state of the mailbox the connection has examined is the session's
// view, which a server may keep until the session syncs: a NOOP goes
// just ahead of the LIST, so that the LIST-STATUS answer about that
// mailbox comes after the session synced. (STATUS of the selected
// mailbox, which RFC 3501 says not to use, is asked only of a server
// that leaves it out of its LIST-STATUS answer, after the NOOP.)
func (s *Store) listWithStatus(ctx context.Context, c *imapclient.Client) ([]*imapclient.MailboxInfo, error) {
	items := folderStatusItems(c)
	var noop chan error
	if c.Mailbox() != nil {
		noop = make(chan error, 1)
		sent := make(chan struct{})
		var once sync.Once
		go func() {
			noop <- c.Noop(imapclient.WhenSent(ctx, func() { once.Do(func() { close(sent) }) }))
		}()
		select {
		case <-sent:
		case err := <-noop:
			noop <- err
		}
	}
	var infos []*imapclient.MailboxInfo
	var err error
	var refused *imapclient.StatusError
	if c.Has("LIST-STATUS") && c.Has("LIST-EXTENDED") && !s.listStatusRefused.Load() {
		infos, err = c.ListExtended(ctx, "", []string{"*"}, imapclient.ListOptions{ReturnStatus: items})
		if errors.As(err, &refused) {
			// Announced (or implied by IMAP4rev2) yet refused: STATUS
			// commands do, from now on.
			s.log.Info("the server refuses LIST with RETURN (STATUS); asking STATUS of each mailbox instead", "err", err)
			s.listStatusRefused.Store(true)
			infos, err = c.List(ctx, "", "*")
		}
	} else {
		infos, err = c.List(ctx, "", "*")
	}
	if noop != nil {
		err = cmp.Or(err, <-noop)
	}
	if err != nil {
		return nil, err
	}
	var (
		wg    sync.WaitGroup
		slots = make(chan struct{}, statusPipeline)
		errMu sync.Mutex
		first error
	)
	for _, info := range infos {
		if info.Status != nil || info.HasAttr(imapclient.AttrNoSelect) || info.HasAttr(imapclient.AttrNonExistent) {
			continue
		}
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			st, err := c.Status(ctx, info.Name, items...)
			switch {
			case err == nil:
				info.Status = st
			case errors.Is(err, imapclient.ErrAbort) || ctx.Err() != nil:
				errMu.Lock()
				first = cmp.Or(first, err)
				errMu.Unlock()
			}
			// Else the server refused it (gone meanwhile), or the name
			// cannot be sent: that mailbox has no state.
		}()
	}
	wg.Wait()
	return infos, first
}

// dirTime is the mtime shown for a directory while its listing stays as
// it was seen (print).
type dirTime struct {
	print string
	at    time.Time
}

// DirTime is the mtime of the directory key whose listing print sums up
// (the names of its subdirectories, a mailbox's UIDVALIDITY, UIDNEXT and
// MESSAGES): the start of the mount until the mount sees the listing
// differ from the first it saw, then the moment it saw it change, at
// least a second after the time shown before. So it changes whenever the
// listing does (an arrival, an expunge, a mailbox made, renamed or
// deleted below), stays while it does not, never goes back, not even
// across mounts, and costs no round trip beyond the folder list's.
func (s *Store) DirTime(key, print string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.dirTimes[key]
	switch {
	case !ok:
		t = dirTime{print: print, at: s.started}
	case t.print != print:
		at := time.Now().Truncate(time.Second)
		if !at.After(t.at) {
			at = t.at.Add(time.Second)
		}
		t = dirTime{print: print, at: at}
	}
	s.dirTimes[key] = t
	return t.at
}

// ShownDirTime is the mtime DirTime last gave the directory key, or the
// start of the mount.
func (s *Store) ShownDirTime(key string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.dirTimes[key]; ok {
		return t.at
	}
	return s.started
}

// InvalidateFolders makes the next Folders ask the server. The list is
// kept (out of date: see heldState) for when the server cannot be reached.
func (s *Store) InvalidateFolders() {
	s.mu.Lock()
	s.foldersAt = time.Time{}
	s.mu.Unlock()
}

// Listing is a snapshot of a mailbox's messages, sorted by UID. It is
// never modified once published.
type Listing struct {
	Mailbox     string
	UIDValidity uint32
	Messages    []Message
	// ModSeq is a MODSEQ no later than the listing (CONDSTORE; 0
	// without): a refresh asks for the flags changed since.
	ModSeq uint64
}

// with is a copy of the listing holding msgs instead.
func (l *Listing) with(msgs []Message) *Listing {
	return &Listing{Mailbox: l.Mailbox, UIDValidity: l.UIDValidity, Messages: msgs, ModSeq: l.ModSeq}
}

// Find returns the message with uid.
func (l *Listing) Find(uid uint32) (Message, bool) {
	i, ok := slices.BinarySearchFunc(l.Messages, uid, func(m Message, uid uint32) int { return int(int64(m.UID) - int64(uid)) })
	if !ok {
		return Message{}, false
	}
	return l.Messages[i], true
}

// mailbox is the store's state of one mailbox.
type mailbox struct {
	name      string
	refreshMu refreshLock // one refresh at a time
	mu        sync.Mutex
	listing   *Listing
	checked   time.Time
	dirty     bool // the server reported a change since
	// changes counts the changes the server reported, so that one
	// reported while a refresh runs is not forgotten when it ends.
	changes uint64
	// suspect: the last refresh found the server's answers disagreeing
	// even when fetched whole; the next one fetches it whole again.
	suspect bool
	// refusals counts the NOs the server gave on connections with the
	// mailbox selected (see noop).
	refusals uint64
	// basis is the mailbox's state in a folder list fetched before the
	// listing was last refreshed: a later folder list showing the same
	// state vouches for the listing (see unchanged).
	basis *imapclient.StatusData
}

func (s *Store) box(name string) *mailbox {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.boxes[name]
	if b == nil {
		b = &mailbox{name: name, refreshMu: make(refreshLock, 1)}
		s.boxes[name] = b
	}
	return b
}

// refreshLock lets one refresh of a mailbox run at a time. Unlike a
// mutex, a caller waiting for it gives up when its context ends: a
// refresh or a walk's batch holds it across round trips, and a tool
// interrupted meanwhile must not wait for them.
type refreshLock chan struct{}

func (l refreshLock) Lock(ctx context.Context) error {
	select {
	case l <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l refreshLock) TryLock() bool {
	select {
	case l <- struct{}{}:
		return true
	default:
		return false
	}
}

func (l refreshLock) Unlock() {
	select {
	case <-l:
	default:
		panic("cache: unlock of a refresh that is not held")
	}
}

// current returns the listing if it may be trusted without asking.
func (b *mailbox) current(ttl time.Duration) *Listing {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.listing != nil && !b.dirty && time.Since(b.checked) < ttl {
		return b.listing
	}
	return nil
}

// Cached returns the listing held now, however old, without asking the
// server; nil if none. Lookups of single files use it so that walking a
// mailbox costs no round trip per file.
func (s *Store) Cached(mailbox string) *Listing {
	b := s.box(mailbox)
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.listing
}

// Listing returns the mailbox's messages. The first call fetches the whole
// listing with one UID FETCH 1:* (UID RFC822.SIZE INTERNALDATE FLAGS);
// later ones, once the listing is older than the TTL or the server
// reported a change, fetch only what is new and drop what was expunged.
func (s *Store) Listing(ctx context.Context, mailbox string) (*Listing, error) {
	b := s.box(mailbox)
	if l := b.current(s.ttl); l != nil {
		return l, nil
	}
	if l := s.unchanged(b); l != nil {
		return l, nil
	}
	if l := s.listingWhileAway(b); l != nil {
		return l, nil
	}
	if l := s.emptyListing(b); l != nil {
		return l, nil
	}
	if err := b.refreshMu.Lock(ctx); err != nil {
		return nil, err
	}
	defer b.refreshMu.Unlock()
	if l := b.current(s.ttl); l != nil {
		return l, nil // refreshed while we waited
	}
	basis, _ := s.heldState(mailbox) // fetched before the refresh begins
	b.mu.Lock()
	changes, first := b.changes, b.listing == nil && !b.suspect
	b.mu.Unlock()
	if first && s.batchable(mailbox) {
		l, err := s.firstListing(ctx, b, basis, changes)
		if l != nil {
			return l, nil
		}
		if errors.Is(err, imapclient.ErrUnreachable) || errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			// The usual way would wait for the same server again, or for
			// a caller who is gone.
			return nil, err
		}
	}
	var fresh *Listing
	var asOf time.Time
	settled := false
	err := s.readMailbox(ctx, mailbox, func(c *imapclient.Client, _ *imapclient.MailboxStatus) error {
		var err error
		fresh, asOf, err = s.refresh(ctx, c, b)
		if refusedSelection(err) {
			s.log.Warn("the server refuses a listing command on the selected mailbox; selecting it anew on a fresh connection", "mailbox", b.name, "err", err)
			return errSelectionRefused
		}
		// A listing that counts other than the selection (a change that
		// came in the meantime) is used, but not trusted for the TTL.
		m := c.Mailbox()
		settled = err == nil && m != nil && int(m.Exists) == len(fresh.Messages)
		return err
	})
	if err != nil {
		if errors.Is(err, errDisagree) {
			s.log.Warn("the listing disagrees with the server even fetched whole; trying again at the next look", "mailbox", mailbox, "why", err)
			b.mu.Lock()
			b.suspect = true
			b.mu.Unlock()
		}
		if held := s.staleListing(b, err); held != nil {
			return held, nil
		}
		return nil, err
	}
	s.answered()
	s.publish(b, fresh, asOf, basis, settled, changes)
	return fresh, nil
}

// publish makes fresh the mailbox's listing, describing the moment asOf,
// fetched after the folder list's state basis. A listing that is not
// settled (it counts other than the selection did), or one during whose
// fetch the server reported a change (b.changes moved on from changes),
// is used but not trusted for the TTL.
func (s *Store) publish(b *mailbox, fresh *Listing, asOf time.Time, basis *imapclient.StatusData, settled bool, changes uint64) {
	b.mu.Lock()
	old := s.publishLocked(b, fresh, asOf, basis, settled, changes)
	b.mu.Unlock()
	s.pruneDisk(old, fresh)
}

// publishLocked is publish with b.mu held, but for the disk cache: it
// returns the listing replaced, for pruneDisk.
func (s *Store) publishLocked(b *mailbox, fresh *Listing, asOf time.Time, basis *imapclient.StatusData, settled bool, changes uint64) (old *Listing) {
	old = b.listing
	if old != nil && old.UIDValidity != fresh.UIDValidity {
		s.bodies.RemoveMailbox(b.name, fresh.UIDValidity)
	}
	b.listing, b.checked, b.suspect, b.basis = fresh, asOf, false, basis
	b.dirty = !settled || b.changes != changes
	return old
}

// emptyListing returns an empty listing, trusted from the folder list's
// time, when the folder list held now (within the TTL) says the mailbox
// holds no message and nothing was reported since: there is nothing to
// list, so nothing to ask.
func (s *Store) emptyListing(b *mailbox) *Listing {
	st, at := s.heldState(b.name)
	if st == nil || time.Since(at) >= s.ttl || !st.Has(imapclient.StatusMessages) || st.Messages != 0 || !st.Has(imapclient.StatusUIDValidity) {
		return nil
	}
	b.mu.Lock()
	if b.dirty || b.listing != nil && (b.listing.UIDValidity != st.UIDValidity || !at.After(b.checked)) {
		b.mu.Unlock()
		return nil
	}
	fresh := &Listing{Mailbox: b.name, UIDValidity: st.UIDValidity, ModSeq: st.HighestModSeq}
	old := s.publishLocked(b, fresh, at, st, true, b.changes)
	b.mu.Unlock()
	s.pruneDisk(old, fresh)
	return fresh
}

// unchanged returns the listing, trusted anew, when the folder list held
// now was fetched after the listing was last checked and shows the
// mailbox as it was before that check (see sameState): one LIST-STATUS
// then vouches for the listings of every mailbox, where each would cost
// a refresh.
func (s *Store) unchanged(b *mailbox) *Listing {
	st, at := s.heldState(b.name)
	if st == nil || time.Since(at) >= s.ttl {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.listing == nil || b.dirty || b.suspect || !at.After(b.checked) || !sameState(st, b.basis) {
		return nil
	}
	b.checked = at
	return b.listing
}

// pruneDisk removes from the disk cache what a new listing shows gone:
// with the first listing of a mount, everything expunged (or a UIDVALIDITY
// changed) since the blocks were written; later, the messages expunged
// since the last listing.
func (s *Store) pruneDisk(old, fresh *Listing) {
	if s.disk == nil {
		return
	}
	if old == nil || old.UIDValidity != fresh.UIDValidity {
		uids := make([]uint32, len(fresh.Messages))
		for i, m := range fresh.Messages {
			uids[i] = m.UID
		}
		s.disk.KeepOnly(fresh.Mailbox, fresh.UIDValidity, uids)
		return
	}
	for _, m := range old.Messages {
		if _, found := fresh.Find(m.UID); !found {
			s.disk.RemoveMessage(fresh.Mailbox, fresh.UIDValidity, m.UID, m.Size)
		}
	}
}

var metaItems = []string{imapclient.FetchUID, imapclient.FetchRFC822Size, imapclient.FetchInternalDate, imapclient.FetchFlags}

// A refresh does not take the server's answers on trust: an answer can go
// astray (two pipelined commands the server answers interleaved, one
// taking what the other asked for) or describe a moment other than the
// one assumed (another client expunging between two commands). Sequence
// numbers tie the answers to the selection (see update): the known
// messages still there, numbered by the answer for the highest of them,
// and the new ones after them without a gap, must add up to the
// selection's count; where they do not, UID SEARCH ALL says which
// messages are there, and those not answered are asked for by UID. Any
// other disagreement (an answer incomplete, out of step, twice) makes the
// refresh fetch the whole listing again, checked the same way; when that
// disagrees every time too, the look fails (EIO) and the next one starts
// from the whole listing rather than build on what it has.

// errDisagree: the server's answers do not fit together or with the
// listing; the listing is fetched whole again.
var errDisagree = errors.New("the server's answers disagree with the listing")

// resyncAttempts bounds the whole fetches of one refresh.
const resyncAttempts = 3

// freshSelection is how recent a SELECT or EXAMINE must be for a whole
// listing fetched on it to need no NOOP first.
const freshSelection = 250 * time.Millisecond

// refresh brings b's listing up to date on a connection with the mailbox
// selected. asOf is the moment the listing describes, for its TTL.
func (s *Store) refresh(ctx context.Context, c *imapclient.Client, b *mailbox) (l *Listing, asOf time.Time, err error) {
	status := c.Mailbox()
	if status == nil {
		return nil, time.Time{}, errors.New("mailbox not selected")
	}
	b.mu.Lock()
	old, suspect := b.listing, b.suspect
	b.mu.Unlock()
	incremental := old != nil && old.UIDValidity == status.UIDValidity && !suspect
	// NOOP lets the server report what changed since the connection last
	// looked (EXISTS, EXPUNGE, VANISHED). Right after the EXAMINE it
	// would report nothing, when the whole listing is fetched anyway (a
	// UIDVALIDITY is only ever learnt from the EXAMINE): a round trip
	// saved per mailbox a walk enters.
	asOf = time.Now()
	if opened := c.SelectedAt(); incremental || time.Since(opened) >= freshSelection {
		if err := s.noop(ctx, c, b); err != nil {
			return nil, time.Time{}, err
		}
		if status = c.Mailbox(); status == nil {
			return nil, time.Time{}, errors.New("mailbox not selected")
		}
	} else {
		asOf = opened
	}
	if incremental {
		s.stats.Refreshes.Add(1)
		l, err := s.update(ctx, c, old)
		if !errors.Is(err, errDisagree) {
			return l, asOf, err
		}
		// Common while other clients change the mailbox (an expunge between
		// two answers); only a whole listing that disagrees too is a warning.
		s.log.Info("a listing refresh disagrees with the server; fetching the whole listing again", "mailbox", b.name, "why", err)
	}
	for range resyncAttempts {
		if l, err = s.resync(ctx, c, b.name); !errors.Is(err, errDisagree) {
			return l, asOf, err
		}
	}
	return nil, time.Time{}, err
}

// resync fetches the whole listing (UID FETCH 1:*).
func (s *Store) resync(ctx context.Context, c *imapclient.Client, name string) (*Listing, error) {
	s.stats.ListingFetches.Add(1)
	status := c.Mailbox()
	if status == nil {
		return nil, errors.New("mailbox not selected")
	}
	// The selection's HIGHESTMODSEQ, from before the FETCH: changes after
	// it are asked for again, at worst some twice.
	l := &Listing{Mailbox: name, UIDValidity: status.UIDValidity, ModSeq: status.HighestModSeq}
	if status.Exists == 0 {
		return l, nil
	}
	msgs, err := fetchMeta(ctx, c, imapclient.SeqSet{{Start: 1, Stop: imapclient.SeqStar}}, int(status.Exists))
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		return nil, fmt.Errorf("%w: no answer for 1:* with %d messages", errDisagree, status.Exists)
	}
	if err := numberedFrom(msgs, 1); err != nil {
		return nil, err
	}
	l.Messages = messagesOf(msgs)
	return l, nil
}

// update brings a listing that agreed with the server up to date: the
// flags that changed, the messages above its highest UID, and, when the
// numbers say some are gone, which.
//
// It asks for "last:*", last the listing's highest UID: the answer for
// last itself (the anchor) numbers the known messages still there, and
// the new ones must follow it without a gap. Without the anchor (last was
// expunged, or its answer went astray), or when the messages do not add
// up to the selection's count, UID SEARCH ALL decides (see reconcile).
func (s *Store) update(ctx context.Context, c *imapclient.Client, old *Listing) (*Listing, error) {
	msgs := old.Messages
	var last uint32
	if n := len(msgs); n > 0 {
		last = msgs[n-1].UID
	}
	// Flags other clients changed, on the messages known already.
	msgs, modseq, err := refreshFlags(ctx, c, msgs, old.ModSeq)
	if err != nil {
		return nil, err
	}
	status := c.Mailbox()
	switch {
	case status == nil || status.UIDValidity != old.UIDValidity:
		return nil, fmt.Errorf("%w: the selection changed", errDisagree)
	case status.Exists == 0:
		msgs = nil // everything was expunged
	default:
		answered, err := fetchMeta(ctx, c, imapclient.SeqSet{{Start: max(last, 1), Stop: imapclient.SeqStar}}, 0)
		if err != nil {
			return nil, err
		}
		var anchor, below *answer
		var added []answer
		for i := range answered {
			f := &answered[i]
			switch {
			case f.UID > last:
				added = append(added, *f)
			case f.UID == last:
				anchor = f
			default:
				below = f
			}
		}
		if below != nil {
			// Only when last is gone, as the one answer: the highest
			// message left, which must be one known.
			if len(answered) > 1 {
				return nil, fmt.Errorf("%w: %d answers for %d:*, one of them UID %d", errDisagree, len(answered), last, below.UID)
			}
			if _, known := old.Find(below.UID); !known {
				return nil, fmt.Errorf("%w: the highest message, UID %d, is not listed", errDisagree, below.UID)
			}
		}
		if err := numberedFrom(added, 0); err != nil {
			return nil, err
		}
		kept := -1 // the known messages still there; -1: not known
		switch {
		case last == 0:
			kept = 0
		case anchor != nil:
			kept = int(anchor.Seq)
		}
		if kept >= 0 && len(added) > 0 && int(added[0].Seq) != kept+1 {
			return nil, fmt.Errorf("%w: %d known messages kept, yet the first new one, UID %d, is message %d", errDisagree, kept, added[0].UID, added[0].Seq)
		}
		if kept > len(msgs) {
			return nil, fmt.Errorf("%w: %d messages up to UID %d, %d listed", errDisagree, kept, last, len(msgs))
		}
		if now := c.Mailbox(); kept < len(msgs) || now == nil || int(now.Exists) != len(msgs)+len(added) {
			// Some were expunged, the anchor is missing, or not every
			// message was answered (or more arrived meanwhile): the
			// server says which are there.
			if msgs, added, err = s.reconcile(ctx, c, msgs, last, added); err != nil {
				return nil, err
			}
		}
		if len(added) > 0 {
			msgs = append(slices.Clip(msgs), messagesOf(added)...)
		}
	}
	if len(msgs) == len(old.Messages) && (len(msgs) == 0 || &msgs[0] == &old.Messages[0]) && modseq == old.ModSeq {
		// Nothing changed: the same listing, so that those who hold it
		// (a walk's prefetch) need not start over.
		return old, nil
	}
	return &Listing{Mailbox: old.Mailbox, UIDValidity: old.UIDValidity, Messages: msgs, ModSeq: modseq}, nil
}

// reconcile makes msgs (UIDs up to last) and added (above last) what
// UID SEARCH ALL says the mailbox holds: it drops the messages gone and
// fetches those not answered. The answer must hold as many UIDs as the
// selection counts, and no UID up to last that msgs lacks.
func (s *Store) reconcile(ctx context.Context, c *imapclient.Client, msgs []Message, last uint32, added []answer) ([]Message, []answer, error) {
	uids, err := s.presentUIDs(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	if status := c.Mailbox(); status == nil || int(status.Exists) != len(uids) {
		exists := -1
		if status != nil {
			exists = int(status.Exists)
		}
		return nil, nil, fmt.Errorf("%w: UID SEARCH ALL answered %d UIDs, the mailbox has %d messages", errDisagree, len(uids), exists)
	}
	present := make(map[uint32]bool, len(uids))
	for _, u := range uids {
		present[u] = true
	}
	kept := slices.DeleteFunc(slices.Clone(msgs), func(m Message) bool { return !present[m.UID] })
	answered := make(map[uint32]bool, len(added))
	for _, f := range added {
		answered[f.UID] = true
	}
	below := 0
	var missing imapclient.SeqSet
	wanted := 0
	for _, u := range uids {
		switch {
		case u <= last:
			below++
		case !answered[u]:
			missing.AddNum(u)
			wanted++
		}
	}
	if below != len(kept) {
		return nil, nil, fmt.Errorf("%w: the server has %d messages up to UID %d, %d of them listed", errDisagree, below, last, len(kept))
	}
	added = slices.DeleteFunc(slices.Clone(added), func(f answer) bool { return !present[f.UID] })
	if wanted > 0 {
		got, err := fetchMeta(ctx, c, missing, wanted)
		if err != nil {
			return nil, nil, err
		}
		if len(got) != wanted {
			return nil, nil, fmt.Errorf("%w: %d of %d messages not answered, asked for by UID", errDisagree, wanted-len(got), wanted)
		}
		added = append(added, got...)
		slices.SortFunc(added, byUID)
	}
	return kept, added, nil
}

// presentUIDs is the UIDs of every message in the selected mailbox,
// ascending: UID SEARCH ALL, or with ESEARCH, UID SEARCH RETURN (ALL)
// ALL, whose answer is a compact set ("1:4999,5001:100000"), a few bytes
// where a mailbox of 100,000 messages would take 700 KB of UIDs. A set
// naming more UIDs than the mailbox has messages is refused before it is
// expanded. A server that announces ESEARCH (or IMAP4rev2, which implies
// it) and refuses it gets UID SEARCH ALL from then on.
func (s *Store) presentUIDs(ctx context.Context, c *imapclient.Client) ([]uint32, error) {
	if !c.Has("ESEARCH") || s.esearchRefused.Load() {
		return c.UIDSearch(ctx, allMessages)
	}
	found, err := c.UIDSearchExtended(ctx, allMessages, imapclient.SearchReturn{All: true})
	var refused *imapclient.StatusError
	if errors.As(err, &refused) {
		s.log.Info("the server refuses UID SEARCH RETURN (ALL) it announces; asking UID SEARCH ALL instead", "err", err)
		s.esearchRefused.Store(true)
		return c.UIDSearch(ctx, allMessages)
	}
	if err != nil {
		return nil, err
	}
	status := c.Mailbox()
	if status == nil {
		return nil, errors.New("mailbox not selected")
	}
	var count uint64
	for _, r := range found.All {
		if r.Start == imapclient.SeqStar || r.Stop == imapclient.SeqStar {
			return nil, fmt.Errorf("%w: UID SEARCH RETURN (ALL) answered %s", errDisagree, found.All)
		}
		count += uint64(max(r.Start, r.Stop)-min(r.Start, r.Stop)) + 1
		if count > uint64(status.Exists) {
			return nil, fmt.Errorf("%w: UID SEARCH RETURN (ALL) answered more UIDs than the %d messages", errDisagree, status.Exists)
		}
	}
	uids := make([]uint32, 0, count)
	for _, r := range found.All {
		for u := min(r.Start, r.Stop); ; u++ {
			uids = append(uids, u)
			if u == max(r.Start, r.Stop) {
				break
			}
		}
	}
	slices.Sort(uids)
	for i := 1; i < len(uids); i++ {
		if uids[i] == uids[i-1] {
			return nil, fmt.Errorf("%w: UID SEARCH RETURN (ALL) answered UID %d twice", errDisagree, uids[i])
		}
	}
	return uids, nil
}

// numberedFrom checks that answers, sorted by UID, carry the sequence
// numbers first, first+1, ... without a gap (first 0: from the first
// answer's): what a range of UIDs up to "*" must answer.
func numberedFrom(answers []answer, first uint32) error {
	if first == 0 && len(answers) > 0 {
		first = answers[0].Seq
	}
	for i, f := range answers {
		if f.Seq != first+uint32(i) {
			return fmt.Errorf("%w: UID %d is message %d, expected %d (answers missing or out of step)", errDisagree, f.UID, f.Seq, first+uint32(i))
		}
	}
	return nil
}

// answer is a listing entry as a FETCH answered it, with its sequence
// number.
type answer struct {
	Message
	Seq uint32
}

// maxPresized bounds the room fetchMeta makes before the answers come.
const maxPresized = 1 << 17

func byUID(a, b answer) int { return cmp.Compare(a.UID, b.UID) }

// fetchMeta fetches the metadata of the messages in set (UIDs), sorted by
// UID. An answer without every item asked for (one meant for another
// command) or a UID answered twice is a disagreement. Each message is
// made a compact entry as it is read, so that a whole listing is never
// held as FETCH responses; expected is how many answers to make room
// for at once (the server says so, hence the bound).
func fetchMeta(ctx context.Context, c *imapclient.Client, set imapclient.SeqSet, expected int) ([]answer, error) {
	fetched := make([]answer, 0, min(expected, maxPresized))
	var lacking error
	_, err := c.UIDFetch(ctx, set, metaItems, &imapclient.FetchOptions{Each: func(f *imapclient.FetchMessage) {
		for _, item := range metaItems {
			if !f.Has(item) && lacking == nil {
				lacking = fmt.Errorf("%w: the answer for UID %d lacks %s", errDisagree, f.UID, item)
			}
		}
		fetched = append(fetched, answer{NewMessage(f.UID, f.Size, f.InternalDate, f.Flags), f.Seq})
	}})
	if err != nil {
		return nil, err
	}
	if lacking != nil {
		return nil, lacking
	}
	return checkMeta(fetched)
}

// answersOf makes listing entries of FETCH answers held whole (those of
// a batch, see ListAhead), checked and sorted as fetchMeta's are.
func answersOf(msgs []*imapclient.FetchMessage) ([]answer, error) {
	fetched := make([]answer, 0, len(msgs))
	for _, f := range msgs {
		for _, item := range metaItems {
			if !f.Has(item) {
				return nil, fmt.Errorf("%w: the answer for UID %d lacks %s", errDisagree, f.UID, item)
			}
		}
		fetched = append(fetched, answer{NewMessage(f.UID, f.Size, f.InternalDate, f.Flags), f.Seq})
	}
	return checkMeta(fetched)
}

// checkMeta sorts metadata answers by UID and checks them: a UID
// answered twice or without its sequence number is a disagreement.
func checkMeta(fetched []answer) ([]answer, error) {
	slices.SortFunc(fetched, byUID)
	for i, f := range fetched {
		if f.Seq == 0 || (i > 0 && fetched[i-1].UID == f.UID) {
			return nil, fmt.Errorf("%w: UID %d answered twice or unnumbered", errDisagree, f.UID)
		}
	}
	return fetched, nil
}

// messagesOf makes listing entries of FETCH answers.
func messagesOf(answers []answer) []Message {
	msgs := make([]Message, len(answers))
	for i, a := range answers {
		msgs[i] = a.Message
	}
	return msgs
}

// errSelectionRefused: the server answered NO on a connection with the
// mailbox selected. Dovecot does so, and goes on serving the old listing
// from its index, once another client deleted the mailbox (and maybe made
// it again) under the selection; nothing on that connection can be
// trusted. It matches imapclient.ErrSelectionGone, so that the pool gives
// the connection to nobody else and closes it once the other commands on
// it are done (closing it now would cut them off), and
// imapclient.ErrAbort, so that the read is tried once more on a fresh
// connection, which selects the mailbox anew.
var errSelectionRefused = fmt.Errorf("%w: the server refuses commands on the selected mailbox (%w)", imapclient.ErrAbort, imapclient.ErrSelectionGone)

// refusedSelection: a NO to a command that reads the selected mailbox's
// listing, which has no other cause than a selection gone bad (an expunge
// under a FETCH is OK [EXPUNGEISSUED], or NO with that code on some
// servers, and is no reason to select again).
func refusedSelection(err error) bool {
	var st *imapclient.StatusError
	return errors.As(err, &st) && st.Type == "NO" && !st.HasCode(imapwire.CodeExpungeIssued)
}

// noop sends NOOP, through which the server reports what changed since
// the connection last looked, and checks the selection still holds: after
// a NO to it, or an unasked NO while it ran, it returns
// errSelectionRefused. (A NO that comes with SELECT is no sign:
// Cyrus warns so of a mailbox over quota.)
func (s *Store) noop(ctx context.Context, c *imapclient.Client, b *mailbox) error {
	b.mu.Lock()
	before := b.refusals
	b.mu.Unlock()
	err := c.Noop(ctx)
	b.mu.Lock()
	refused := b.refusals != before || errors.Is(err, imapclient.ErrNo)
	b.mu.Unlock()
	if refused {
		s.log.Warn("the server refuses commands on the selected mailbox; selecting it anew on a fresh connection", "mailbox", b.name, "err", err)
		return errSelectionRefused
	}
	return err
}

// refreshFlags brings the flags of msgs (a published listing's, not to be
// modified) up to date: with CONDSTORE, those changed since modseq (UID
// FETCH ... (CHANGEDSINCE modseq)); without, all of them. It returns the
// messages, copied if anything changed, and the new highest MODSEQ.
func refreshFlags(ctx context.Context, c *imapclient.Client, msgs []Message, modseq uint64) ([]Message, uint64, error) {
	if len(msgs) == 0 {
		return msgs, modseq, nil
	}
	set := imapclient.SeqSet{{Start: msgs[0].UID, Stop: msgs[len(msgs)-1].UID}}
	items := []string{imapclient.FetchUID, imapclient.FetchFlags}
	var opts *imapclient.FetchOptions
	if c.Has("CONDSTORE") {
		// MODSEQ too, so that a first MODSEQ is learnt where the
		// selection gave none.
		items = append(items, imapclient.FetchModSeq)
		if modseq > 0 {
			opts = &imapclient.FetchOptions{ChangedSince: modseq}
		}
	}
	fetched, err := c.UIDFetch(ctx, set, items, opts)
	if err != nil {
		return nil, 0, err
	}
	copied := false
	for _, f := range fetched {
		modseq = max(modseq, f.ModSeq)
		i, ok := slices.BinarySearchFunc(msgs, f.UID, func(m Message, uid uint32) int { return int(int64(m.UID) - int64(uid)) })
		if !ok || msgs[i].flags == internFlags(f.Flags) {
			continue
		}
		if !copied {
			msgs, copied = slices.Clone(msgs), true
		}
		msgs[i] = msgs[i].withFlags(f.Flags)
	}
	return msgs, modseq, nil
}

// CorrectSize records a message's real size when reading it showed that
// the server's RFC822.SIZE was wrong.
func (s *Store) CorrectSize(mailbox string, uidValidity, uid uint32, size int64) {
	b := s.box(mailbox)
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.listing
	if l == nil || l.UIDValidity != uidValidity {
		return
	}
	i, ok := slices.BinarySearchFunc(l.Messages, uid, func(m Message, uid uint32) int { return int(int64(m.UID) - int64(uid)) })
	if !ok || l.Messages[i].Size == size {
		return
	}
	s.log.Warn("the server's RFC822.SIZE is wrong; using the real size", "mailbox", mailbox, "uid", uid,
		"rfc822.size", l.Messages[i].Size, "real", size)
	msgs := slices.Clone(l.Messages)
	msgs[i].Size = size
	b.listing = l.with(msgs)
}

// Update takes the server's unilateral data for a mailbox (the pool's
// Updates hook): a change makes the next Listing ask the server; a NO
// makes it select the mailbox anew first (see noop).
func (s *Store) Update(mailbox string, u imapclient.Update) {
	if mailbox == "" {
		return
	}
	switch u := u.(type) {
	case imapclient.ExistsUpdate, imapclient.ExpungeUpdate, imapclient.VanishedUpdate:
		s.markDirty(mailbox)
	case imapclient.StatusUpdate:
		// Warnings meant for the user (ALERT, OVERQUOTA) are not about
		// the selection.
		if u.Type == "NO" && (u.Code == nil || u.Code.Name != imapwire.CodeAlert && u.Code.Name != imapwire.CodeOverQuota) {
			b := s.box(mailbox)
			b.mu.Lock()
			b.refusals++
			b.mu.Unlock()
			s.markDirty(mailbox)
		}
	}
}

// markDirty makes the next Listing of the mailbox ask the server.
func (s *Store) markDirty(mailbox string) {
	b := s.box(mailbox)
	b.mu.Lock()
	b.dirty = true
	b.changes++
	b.mu.Unlock()
}

// Reads are safe to repeat, and a connection can die under one without
// anything being wrong with the request: another client deleted the
// mailbox it had selected (Dovecot then says BYE), a server restarted. So
// reads that meet a broken connection are tried once more, on a fresh one.
// Changes are never repeated this way: they may have happened.

// readMailbox runs an idempotent f with mailbox selected.
func (s *Store) readMailbox(ctx context.Context, mailbox string, f func(c *imapclient.Client, m *imapclient.MailboxStatus) error) error {
	err := s.pool.Mailbox(ctx, mailbox, f)
	if errors.Is(err, imapclient.ErrAbort) && ctx.Err() == nil {
		s.log.Info("a read lost its connection; trying once more", "mailbox", mailbox, "err", err)
		err = s.pool.Mailbox(ctx, mailbox, f)
	}
	return err
}

// readAny runs an idempotent f on any connection.
func (s *Store) readAny(ctx context.Context, f func(c *imapclient.Client) error) error {
	err := s.pool.Any(ctx, f)
	if errors.Is(err, imapclient.ErrAbort) && ctx.Err() == nil {
		s.log.Info("a read lost its connection; trying once more", "err", err)
		err = s.pool.Any(ctx, f)
	}
	return err
}
