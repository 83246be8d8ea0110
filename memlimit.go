package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// memoryHeadroom is what imapfs may allocate beyond what it holds before
// the garbage collector runs: buffers of transfers in flight, parsed
// answers on their way into a listing.
const memoryHeadroom = 48 << 20

// memoryLimit keeps the Go memory limit at what imapfs holds plus
// memoryHeadroom: the body cache's size while that is most of it, and
// the live heap (listings, nodes and bodies together) with the runtime's
// own memory once that is more. A limit under what is live would make
// the collector run without pause (a listing of 100,000 messages did, on
// top of a full body cache), so the limit is set anew after every
// collection, from what that collection found live.
type memoryLimit struct {
	base    int64 // the body cache's size
	stopped atomic.Bool
	samples []metrics.Sample
}

// followMemoryLimit sets the memory limit for a body cache of cacheSize
// bytes and keeps it above the live heap until stop is called.
func followMemoryLimit(cacheSize int64) (stop func()) {
	m := &memoryLimit{base: cacheSize, samples: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}}
	debug.SetMemoryLimit(m.base + memoryHeadroom)
	m.afterNextGC()
	return func() { m.stopped.Store(true) }
}

// limit is the memory limit for what the last collection found: the
// larger of the body cache and the live heap, with the runtime's memory
// outside heap objects (stacks, its metadata, fragmentation), plus
// memoryHeadroom.
func (m *memoryLimit) limit() int64 {
	metrics.Read(m.samples)
	v := func(i int) int64 {
		if m.samples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return int64(m.samples[i].Value.Uint64())
	}
	live, total, objects, free, released := v(0), v(1), v(2), v(3), v(4)
	runtimeOwn := max(0, total-objects-free-released)
	return max(m.base, live+runtimeOwn) + memoryHeadroom
}

// afterNextGC sets the limit once the next collection is done, and again
// after each one until stopped: a finalizer runs after the collection
// that found its object unreachable.
func (m *memoryLimit) afterNextGC() {
	sentinel := &struct{ m *memoryLimit }{m}
	runtime.SetFinalizer(sentinel, func(s *struct{ m *memoryLimit }) {
		if s.m.stopped.Load() {
			return
		}
		debug.SetMemoryLimit(s.m.limit())
		s.m.afterNextGC()
	})
}
