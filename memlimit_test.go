package main

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// A live heap larger than the body cache (listings of big mailboxes on
// top of a full cache) raises the memory limit above it after the next
// collection, and the limit comes down again once it is freed: a limit
// under the live heap makes the collector run without pause.
func TestMemoryLimitFollowsLiveHeap(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	const cacheSize = 1 << 20
	stop := followMemoryLimit(cacheSize)
	defer stop()
	if got := debug.SetMemoryLimit(-1); got != cacheSize+memoryHeadroom {
		t.Fatalf("memory limit at the start = %d, want the body cache and the headroom, %d", got, cacheSize+memoryHeadroom)
	}

	const live = 3 * memoryHeadroom
	held := make([][]byte, 0, live>>20)
	for range live >> 20 {
		held = append(held, make([]byte, 1<<20))
	}
	waitLimit(t, "with 144 MiB live", func(limit int64) bool { return limit >= live+memoryHeadroom })
	runtime.KeepAlive(held)

	held = nil
	waitLimit(t, "once they are freed", func(limit int64) bool { return limit < live })
}

// waitLimit collects garbage until the memory limit is what ok wants
// (set by the finalizer after a collection, on its own goroutine).
func waitLimit(t *testing.T, when string, ok func(limit int64) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		runtime.GC()
		limit := debug.SetMemoryLimit(-1)
		if ok(limit) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("memory limit %s: %d MiB", when, limit>>20)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
