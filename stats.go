package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"imapfs/cache"
	"imapfs/fs"
	"imapfs/imapclient"
)

// statistics is what a mount did so far, on demand: the root's
// user.imapfs.stats and SIGUSR1 tell it. The keys are a contract (scripts
// read them); add new ones, never rename.
type statistics struct {
	pool     *imapclient.Pool
	counters *imapclient.Counters
	store    *cache.Store
	fs       *fs.FS
}

type stat struct {
	key   string
	value int64
}

func (s *statistics) list() []stat {
	pool := s.pool.Stats()
	store := s.store.Stats()
	list := []stat{
		{"connections_open", int64(pool.Open)},
		{"connections_made", int64(pool.Dials - pool.FailedDials - pool.Dialing)}, // Dials counts those in progress too
		{"connections_failed", int64(pool.FailedDials)},
		{"connections_dropped", int64(pool.Dropped)},
		{"commands", s.counters.Commands.Load()},
		{"round_trips", s.counters.RoundTrips.Load()},
		{"bytes_in", s.counters.BytesIn.Load()},
		{"bytes_out", s.counters.BytesOut.Load()},
		{"selects", int64(pool.Selects)},
		{"listings", store.ListingFetches.Load()},
		{"listing_refreshes", store.Refreshes.Load()},
		{"bodies_fetched", store.BodyFetches.Load()},
		{"body_bytes_fetched", store.BodyBytes.Load()},
		{"prefetches", store.Prefetches.Load()},
		{"cache_hits_memory", s.store.MemoryHits()},
		{"cache_hits_disk", store.DiskHits.Load()},
	}
	requests := s.fs.RequestCounts()
	var total int64
	for _, n := range requests {
		total += n
	}
	list = append(list, stat{"fuse_requests", total})
	for _, kind := range slices.Sorted(maps.Keys(requests)) {
		list = append(list, stat{"fuse_requests." + kind, requests[kind]})
	}
	return list
}

// text is one key=value a line, in a fixed order.
func (s *statistics) text() string {
	var b strings.Builder
	for _, st := range s.list() {
		fmt.Fprintf(&b, "%s=%d\n", st.key, st.value)
	}
	return b.String()
}

// attrs are the same as log attributes.
func (s *statistics) attrs() []any {
	var attrs []any
	for _, st := range s.list() {
		attrs = append(attrs, st.key, st.value)
	}
	return attrs
}
