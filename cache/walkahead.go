package cache

// What a walk of the tree needs of the store to fetch listings ahead of
// the tool (see fs/walk.go).

// Connections is the most connections the store uses at once.
func (s *Store) Connections() int { return s.pool.Size() }

// ListingCurrent reports whether the mailbox's listing is held and may
// be used without asking the server (within the TTL, no change reported).
func (s *Store) ListingCurrent(mailbox string) bool {
	return s.box(mailbox).current(s.ttl) != nil
}
