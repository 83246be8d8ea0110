package cache

import (
	"context"
	"fmt"
	"slices"

	"imapfs/imapclient"
)

// What a walk of the tree needs of the store to fetch listings ahead of
// the tool (see fs/walk.go).

// Connections is the most connections the store uses at once.
func (s *Store) Connections() int { return s.pool.Size() }

// ListingCurrent reports whether the mailbox's listing is held and may
// be used without asking the server (within the TTL, no change reported).
func (s *Store) ListingCurrent(mailbox string) bool {
	return s.box(mailbox).current(s.ttl) != nil
}

// bodyAhead is what ListAhead asks of each message's body: its first
// aheadBodyBytes.
var bodyAhead = "BODY.PEEK[]<0." + itoa(aheadBodyBytes) + ">"

// Bounds of one batch of listings fetched ahead (ListAhead): its answers
// are held until the batch reaches them, ~100 bytes a message, and with
// bodies up to aheadBodyBytes a message more.
const (
	AheadBatchMailboxes = 32
	aheadBatchMessages  = 20000
	// A batch with bodies holds only small mailboxes (by the folder
	// list's count), at most aheadBodyMessages messages in all, and
	// fetches at most aheadBodyBytes of each message: a message larger
	// than that is left to its reader, so the batch holds 4 MiB at most.
	aheadSmallMailbox = 4
	aheadBodyMessages = 64
	aheadBodyBytes    = 64 << 10
)

// batchable reports whether a mailbox may be listed by a batch
// (ExamineEach), whose answers are held whole until the mailbox's FETCH
// ends: the folder list counts it at most aheadBatchMessages. A larger
// one is left to Listing, which makes each answer a compact entry as it
// is read (see fetchMeta), so that a listing never holds a whole large
// mailbox's FETCH responses.
func (s *Store) batchable(mailbox string) bool {
	st, _ := s.heldState(mailbox)
	return st != nil && st.Has(imapclient.StatusMessages) && st.Messages <= aheadBatchMessages
}

// AheadBatch returns how many of the mailboxes, from the first, make one
// batch for ListAhead, and whether it brings their bodies along: with
// bodies (when asked for) a run of small mailboxes, at most
// aheadBodyMessages messages in all; else at most AheadBatchMailboxes,
// and no more messages than aheadBatchMessages as the folder list counts
// them (at least one mailbox, however large).
func (s *Store) AheadBatch(mailboxes []string, bodies bool) (n int, withBodies bool) {
	count := func(name string) (int, bool) {
		st, _ := s.heldState(name)
		if st == nil || !st.Has(imapclient.StatusMessages) {
			return 0, false
		}
		return int(st.Messages), true
	}
	small := func(name string) bool {
		m, known := count(name)
		return known && m <= aheadSmallMailbox
	}
	withBodies = bodies && len(mailboxes) > 0 && small(mailboxes[0])
	messages := 0
	for _, name := range mailboxes {
		m, _ := count(name)
		messages += m
		full := n == AheadBatchMailboxes ||
			withBodies && (!small(name) || messages > aheadBodyMessages) ||
			n > 0 && messages > aheadBatchMessages
		if full {
			break
		}
		n++
	}
	return n, withBodies
}

// ListAhead fetches the listings of mailboxes a walk is about to reach,
// all in one round trip on a connection of its own (the EXAMINE and UID
// FETCH 1:* of each pipelined: imapclient's Pool.ExamineEach), into the
// store as Listing would. It skips the mailboxes whose listing is
// current, whose state in the folder list vouches for the listing or
// says they are empty, and those a Listing is refreshing now. A tool
// that looks at a mailbox of the batch meanwhile waits for its answer,
// which comes as soon as the batch reaches it, rather than ask again.
// A mailbox the batch could not list (gone, or answers that disagree) is
// left for Listing to ask and report.
//
// withBodies also fetches the first aheadBodyBytes of every message
// (BODY.PEEK, never setting \Seen) into the body cache: the bodies of
// those no larger, checked whole against RFC822.SIZE.
func (s *Store) ListAhead(ctx context.Context, mailboxes []string, withBodies bool) error {
	type ahead struct {
		b       *mailbox
		basis   *imapclient.StatusData
		changes uint64
		// listed: the listing is current, the mailbox is in the batch
		// for its bodies alone.
		listed *Listing
	}
	batch := map[string]ahead{}
	var names []string
	allListed := true
	defer func() {
		for _, a := range batch {
			a.b.refreshMu.Unlock()
		}
	}()
	for _, name := range mailboxes {
		b := s.box(name)
		if withBodies && s.BodiesAtHand(name) || !withBodies && s.ListingAtHand(name) || !s.batchable(name) {
			continue
		}
		if _, twice := batch[name]; twice || !b.refreshMu.TryLock() {
			continue
		}
		listed := b.current(s.ttl)
		if !withBodies && listed != nil {
			b.refreshMu.Unlock()
			continue
		}
		basis, _ := s.heldState(name)
		b.mu.Lock()
		batch[name] = ahead{b: b, basis: basis, changes: b.changes, listed: listed}
		b.mu.Unlock()
		names = append(names, name)
		if listed == nil {
			allListed = false
		}
	}
	if len(names) == 0 {
		return nil
	}
	items := metaItems
	switch {
	case withBodies && allListed:
		// The bodies alone, checked against the listings held.
		items = []string{imapclient.FetchUID, imapclient.FetchRFC822Size, bodyAhead}
		s.stats.Prefetches.Add(1)
	case withBodies:
		items = append(slices.Clip(items), bodyAhead)
	}
	err := s.pool.ExamineEach(ctx, names, items, func(r imapclient.MailboxFetch) {
		a, ok := batch[r.Mailbox]
		if !ok {
			return
		}
		delete(batch, r.Mailbox)
		defer a.b.refreshMu.Unlock()
		if l := a.listed; l != nil {
			switch {
			case r.Err == nil && r.Status.UIDValidity == l.UIDValidity:
				s.keepBodies(l, r.Messages)
			case r.Err == nil:
				// The mailbox was made anew: the listing held names
				// other messages. The next look lists it again.
				s.markDirty(r.Mailbox)
			}
			return
		}
		fresh, err := listingOf(r)
		if err != nil {
			s.log.Debug("a listing fetched ahead of a walk is not used", "mailbox", r.Mailbox, "err", err)
			return
		}
		s.stats.ListingFetches.Add(1)
		s.publish(a.b, fresh, r.SelectedAt, a.basis, int(r.Exists) == len(fresh.Messages), a.changes)
		if withBodies {
			s.keepBodies(fresh, r.Messages)
		}
	})
	if err == nil {
		s.answered()
	}
	return err
}

// keepBodies puts into the body cache the bodies that came whole with a
// listing fetched ahead: as long as RFC822.SIZE says (and the listing),
// and no longer than a block.
func (s *Store) keepBodies(l *Listing, answers []*imapclient.FetchMessage) {
	for _, f := range answers {
		if m, listed := l.Find(f.UID); !listed || m.Size != f.Size {
			continue
		}
		data, ok := f.Section(blockSection(0))
		if !ok || len(data) == 0 || int64(len(data)) != f.Size || len(data) > BlockSize || f.Size >= aheadBodyBytes {
			// Larger than fetched, or not as announced: its reader
			// fetches it. A body exactly as long as the part fetched
			// may be longer than RFC822.SIZE says: so is one of that size.
			continue
		}
		data = withoutSlack(data)
		key := BodyKey{Mailbox: l.Mailbox, UIDValidity: l.UIDValidity, UID: f.UID}
		// Under s.mu, as a reader decides to fetch (see blockOnce): a
		// body a reader fetches already is its, and one cached here
		// is found by every reader that has not begun.
		s.mu.Lock()
		_, cached := s.bodies.Peek(key)
		if !cached && s.inflight[key] == nil {
			s.bodies.Add(key, data)
		} else {
			cached = true
		}
		s.mu.Unlock()
		if !cached {
			s.stats.BodyFetches.Add(1)
			s.stats.BodyBytes.Add(int64(len(data)))
			s.disk.Add(key, data)
		}
	}
}

// firstListing fetches a mailbox's first listing in one round trip,
// its EXAMINE and UID FETCH 1:* pipelined (a batch of one, see
// ListAhead), where the usual way, EXAMINE and then the FETCH, costs
// two. b.refreshMu is held. It returns no listing when the usual way
// must decide: the mailbox could not be listed so (it is missing, the
// connection broke, the answers disagree), and the usual way tries
// again and reports; the batch's error says whether the server could
// be reached at all.
func (s *Store) firstListing(ctx context.Context, b *mailbox, basis *imapclient.StatusData, changes uint64) (*Listing, error) {
	var fresh *Listing
	err := s.pool.ExamineEach(ctx, []string{b.name}, metaItems, func(r imapclient.MailboxFetch) {
		l, err := listingOf(r)
		if err != nil {
			return
		}
		s.stats.ListingFetches.Add(1)
		s.publish(b, l, r.SelectedAt, basis, int(r.Exists) == len(l.Messages), changes)
		fresh = l
	})
	if err != nil {
		s.log.Debug("listing a mailbox in one round trip failed; listing it the usual way", "mailbox", b.name, "err", err)
	}
	if fresh != nil {
		s.answered()
	}
	return fresh, err
}

// listingOf makes a listing of one mailbox's answer to ExamineEach,
// checked as resync checks a whole listing.
func listingOf(r imapclient.MailboxFetch) (*Listing, error) {
	if r.Err != nil {
		return nil, r.Err
	}
	l := &Listing{Mailbox: r.Mailbox, UIDValidity: r.Status.UIDValidity, ModSeq: r.Status.HighestModSeq}
	if r.Status.Exists == 0 {
		return l, nil
	}
	msgs, err := answersOf(r.Messages)
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		return nil, fmt.Errorf("%w: no answer for 1:* with %d messages", errDisagree, r.Status.Exists)
	}
	if err := numberedFrom(msgs, 1); err != nil {
		return nil, err
	}
	l.Messages = messagesOf(msgs)
	return l, nil
}

// ListingAtHand reports whether the mailbox's listing may be had without
// asking the server: current, vouched for by the folder list, or empty
// by the folder list's count.
func (s *Store) ListingAtHand(mailbox string) bool {
	b := s.box(mailbox)
	return b.current(s.ttl) != nil || s.unchanged(b) != nil || s.emptyListing(b) != nil
}

// SmallMailbox reports whether the folder list counts the mailbox small
// enough for ListAhead to bring its bodies along: a few messages, not
// none.
func (s *Store) SmallMailbox(mailbox string) bool {
	st, _ := s.heldState(mailbox)
	return st != nil && st.Has(imapclient.StatusMessages) && st.Messages > 0 && st.Messages <= aheadSmallMailbox
}

// BodiesAtHand reports whether the mailbox's listing is at hand (see
// ListingAtHand) and the body cache holds the first block of each of its
// messages.
func (s *Store) BodiesAtHand(mailbox string) bool {
	if !s.ListingAtHand(mailbox) {
		return false
	}
	l := s.Cached(mailbox)
	if l == nil {
		return false
	}
	for _, m := range l.Messages {
		if _, ok := s.bodies.Peek(BodyKey{Mailbox: mailbox, UIDValidity: l.UIDValidity, UID: m.UID}); !ok {
			return false
		}
	}
	return true
}
