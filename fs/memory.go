package fs

import (
	"runtime/debug"
	"time"
)

// bigDirectory is how many entries make a directory read worth giving
// its memory back to the system for. Serving a mailbox of 100,000
// messages takes about 15 MB of entries and of the buffer the kernel
// reads them from, garbage once the tool closed the directory; the Go
// runtime keeps such memory mapped for a later heap of that size, and
// imapfs's RSS stayed about 250 bytes a message above the 32 it holds.
const bigDirectory = 10000

// memoryReturnDelay leaves the tool time to read the directory to its
// end and close it (the buffer is freed with the handle).
const memoryReturnDelay = time.Second

// returnMemorySoon gives what is free of the heap back to the system a
// little later, once for any number of calls meanwhile: a collection,
// as cheap as the live heap is small (the body cache is bytes without
// pointers).
func (f *FS) returnMemorySoon() {
	if !f.memoryReturning.CompareAndSwap(false, true) {
		return
	}
	time.AfterFunc(memoryReturnDelay, func() {
		f.memoryReturning.Store(false)
		debug.FreeOSMemory()
	})
}
