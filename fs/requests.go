package fs

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"bazil.org/fuse"
	bfs "bazil.org/fuse/fs"
)

// requestCounts counts the FUSE requests the kernel sent, by kind: each
// costs far more than the work behind it, so how many a tool causes per
// message is what decides speed.
type requestCounts struct {
	mu sync.Mutex
	n  map[string]int64
}

func (r *requestCounts) count(req fuse.Request) {
	kind := strings.TrimSuffix(strings.TrimPrefix(fmt.Sprintf("%T", req), "*fuse."), "Request")
	r.mu.Lock()
	if r.n == nil {
		r.n = map[string]int64{}
	}
	r.n[kind]++
	r.mu.Unlock()
}

// String lists the counts, e.g. "Lookup=10 Open=10 Read=12".
func (r *requestCounts) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, kind := range slices.Sorted(maps.Keys(r.n)) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", kind, r.n[kind])
	}
	return b.String()
}

// ServeConfig is the bazil server configuration: every request is counted,
// and with debug every request and response is logged.
func (f *FS) ServeConfig(debug bool) *bfs.Config {
	cfg := &bfs.Config{
		WithContext: func(ctx context.Context, req fuse.Request) context.Context {
			f.requests.count(req)
			return ctx
		},
		Debug: func(any) {},
	}
	if debug {
		cfg.Debug = func(msg any) { f.log.Debug("fuse", "msg", fmt.Sprint(msg)) }
	}
	return cfg
}

// Requests describes the FUSE requests served so far.
func (f *FS) Requests() string { return f.requests.String() }

// RequestCounts is how many FUSE requests of each kind ("Lookup",
// "Read", ...) were served so far.
func (f *FS) RequestCounts() map[string]int64 {
	f.requests.mu.Lock()
	defer f.requests.mu.Unlock()
	return maps.Clone(f.requests.n)
}
