package cache

// MemoryHits is how many body blocks were read from the memory cache
// instead of being fetched.
func (s *Store) MemoryHits() int64 { return s.bodies.Hits() }
