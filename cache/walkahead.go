package cache

import (
	"context"
	"fmt"

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

// Bounds of one batch of listings fetched ahead (ListAhead): its answers
// are held until the batch reaches them, ~100 bytes a message.
const (
	AheadBatchMailboxes = 32
	aheadBatchMessages  = 20000
)

// AheadBatch returns how many of the mailboxes, from the first, make one
// batch for ListAhead: at most AheadBatchMailboxes, and no more messages
// than aheadBatchMessages as the folder list counts them (at least one
// mailbox, however large).
func (s *Store) AheadBatch(mailboxes []string) int {
	n, messages := 0, 0
	for _, name := range mailboxes {
		if st, _ := s.heldState(name); st != nil {
			messages += int(st.Messages)
		}
		if n == AheadBatchMailboxes || n > 0 && messages > aheadBatchMessages {
			break
		}
		n++
	}
	return n
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
func (s *Store) ListAhead(ctx context.Context, mailboxes []string) error {
	type ahead struct {
		b       *mailbox
		basis   *imapclient.StatusData
		changes uint64
	}
	batch := map[string]ahead{}
	var names []string
	defer func() {
		for _, a := range batch {
			a.b.refreshMu.Unlock()
		}
	}()
	for _, name := range mailboxes {
		b := s.box(name)
		if b.current(s.ttl) != nil || s.unchanged(b) != nil || s.emptyListing(b) != nil {
			continue
		}
		if _, twice := batch[name]; twice || !b.refreshMu.TryLock() {
			continue
		}
		if b.current(s.ttl) != nil {
			b.refreshMu.Unlock()
			continue
		}
		basis, _ := s.heldState(name)
		b.mu.Lock()
		batch[name] = ahead{b: b, basis: basis, changes: b.changes}
		b.mu.Unlock()
		names = append(names, name)
	}
	if len(names) == 0 {
		return nil
	}
	return s.pool.ExamineEach(ctx, names, metaItems, func(r imapclient.MailboxFetch) {
		a, ok := batch[r.Mailbox]
		if !ok {
			return
		}
		delete(batch, r.Mailbox)
		defer a.b.refreshMu.Unlock()
		fresh, err := listingOf(r)
		if err != nil {
			s.log.Debug("a listing fetched ahead of a walk is not used", "mailbox", r.Mailbox, "err", err)
			return
		}
		s.stats.ListingFetches.Add(1)
		s.publish(a.b, fresh, r.SelectedAt, a.basis, int(r.Exists) == len(fresh.Messages), a.changes)
	})
}

// firstListing fetches a mailbox's first listing in one round trip,
// its EXAMINE and UID FETCH 1:* pipelined (a batch of one, see
// ListAhead), where the usual way, EXAMINE and then the FETCH, costs
// two. b.refreshMu is held. It returns nil when the usual way must
// decide: the mailbox could not be listed so (it is missing, the
// connection broke, the answers disagree), and the usual way tries
// again and reports.
func (s *Store) firstListing(ctx context.Context, b *mailbox, basis *imapclient.StatusData, changes uint64) *Listing {
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
	return fresh
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
	msgs, err := checkMeta(r.Messages)
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
