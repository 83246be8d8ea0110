package cache

import (
	"context"
	"errors"
	"sync"
	"time"

	"imapfs/imapclient"
)

// While the server cannot be reached, the store serves what it holds: a
// listing or folder list whose refresh fails for want of the server is
// answered as it was last seen, and bodies come from memory or the disk
// cache without a connection (see blockOnce). Changes are not held back:
// they fail as the pool fails them (imapclient.ErrUnreachable), at once
// while it waits before dialing again. While the server is away, the
// store looks for it at most every outageRetry and answers the other
// looks at once from what it holds: a server that accepts connections and
// then says nothing would otherwise cost each of them --timeout. The look
// that reaches the server ends the outage, and refreshes what was served
// stale.

// outageRetry is how often the store looks for a server that is away.
const outageRetry = 5 * time.Second

// outage is what the store knows of the server being away, for its log:
// one line when it first serves what it holds for want of the server, one
// when the server answers again, not one per request.
type outage struct {
	mu    sync.Mutex
	since time.Time // zero while the server answers
	tried time.Time // the last look for it
}

// unreachable: err says that the server could not be reached, or did not
// answer in time, rather than that it refused the request (a selection
// it refuses to serve aborts the connection, yet it answered).
func unreachable(err error) bool {
	if errors.Is(err, imapclient.ErrSelectionGone) {
		return false
	}
	return errors.Is(err, imapclient.ErrUnreachable) || errors.Is(err, imapclient.ErrAbort) ||
		errors.Is(err, context.DeadlineExceeded)
}

// awayHeld reports whether a look at the server should be spared, and
// what is held served instead: the server is away and was looked for
// less than outageRetry ago. Otherwise the caller looks now.
func (s *Store) awayHeld() bool {
	s.outage.mu.Lock()
	defer s.outage.mu.Unlock()
	if s.outage.since.IsZero() {
		return false
	}
	if time.Since(s.outage.tried) < outageRetry {
		return true
	}
	s.outage.tried = time.Now()
	return false
}

// listingWhileAway is the listing held for b if it is to be served
// without asking (see awayHeld).
func (s *Store) listingWhileAway(b *mailbox) *Listing {
	b.mu.Lock()
	l := b.listing
	b.mu.Unlock()
	if l == nil || !s.awayHeld() {
		return nil
	}
	return l
}

// foldersWhileAway is the folder list held if it is to be served without
// asking (see awayHeld).
func (s *Store) foldersWhileAway() []Folder {
	s.mu.Lock()
	folders := s.folders
	s.mu.Unlock()
	if folders == nil || !s.awayHeld() {
		return nil
	}
	return folders
}

// staleListing is the listing held for b when its refresh failed with
// err because the server cannot be reached; nil otherwise, or if none
// is held.
func (s *Store) staleListing(b *mailbox, err error) *Listing {
	if !unreachable(err) {
		return nil
	}
	b.mu.Lock()
	l := b.listing
	b.mu.Unlock()
	if l != nil {
		s.servingStale(err)
	}
	return l
}

// staleFolders is the folder list held when its refresh failed with err
// because the server cannot be reached; nil otherwise, or if none is held.
func (s *Store) staleFolders(err error) []Folder {
	if !unreachable(err) {
		return nil
	}
	s.mu.Lock()
	folders := s.folders
	s.mu.Unlock()
	if folders != nil {
		s.servingStale(err)
	}
	return folders
}

// servingStale logs, once per outage, that what is held is served.
func (s *Store) servingStale(err error) {
	s.outage.mu.Lock()
	defer s.outage.mu.Unlock()
	if !s.outage.since.IsZero() {
		return
	}
	s.outage.since, s.outage.tried = time.Now(), time.Now()
	s.log.Warn("the server cannot be reached; serving cached listings and bodies, changes fail, until it answers again", "err", err)
}

// answered ends the outage, if one was logged: a refresh reached the
// server.
func (s *Store) answered() {
	s.outage.mu.Lock()
	defer s.outage.mu.Unlock()
	if s.outage.since.IsZero() {
		return
	}
	s.log.Info("the server answers again; listings are refreshed from it", "unreachable_for", time.Since(s.outage.since).Round(time.Second))
	s.outage.since = time.Time{}
}
