package cache

import "time"

// Forget makes the next look at the folder list and at every mailbox ask
// the server, however fresh what is held (SIGHUP, as rclone's). Listings
// are kept, marked stale rather than dropped: the next look refreshes
// them incrementally, and lookups meanwhile still find the messages they
// name. Bodies stay: a UID's bytes never change.
func (s *Store) Forget() {
	s.mu.Lock()
	s.foldersAt = time.Time{} // kept for when the server cannot be reached
	boxes := make([]*mailbox, 0, len(s.boxes))
	for _, b := range s.boxes {
		boxes = append(boxes, b)
	}
	s.mu.Unlock()
	for _, b := range boxes {
		// As a change the server reported: a refresh running now ends
		// stale too.
		b.mu.Lock()
		b.dirty = true
		b.changes++
		b.mu.Unlock()
	}
}
