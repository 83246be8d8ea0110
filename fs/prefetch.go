package fs

import (
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"imapfs/cache"
)

// Tools that walk a mailbox open its messages in an order of their own:
// UID order (grep -r, find: readdir's), inode order (cp -r; inodes grow
// with the UID, see messageInode), name order (rsync sorts names: 10.eml
// before 9.eml), backwards, or none at all. The walker notices a walk
// and fetches the messages it will want in bulk, with pipelined UID
// FETCH commands, so that the server's round trips hide behind the
// kernel's work on the messages already here:
//
//   - two opens in a row that follow one of these orders, either way,
//     start an ordered walk: the next messages in that order are fetched
//     in windows that grow as the reader keeps to the order;
//   - a few distinct opens in a mailbox (walkOpens), in whatever order,
//     start an unordered walk: the rest of the mailbox is fetched at once.
//
// One open alone (cat, grep of one file) fetches nothing ahead. What was
// fetched ahead and not yet opened never exceeds the budget, a share of
// the body cache, so that it is not evicted before the reader gets to it.

const (
	prefetchMin = 8   // messages in the first window
	prefetchMax = 128 // messages in one command at most
	// An ordered walk keeps about windowsAhead windows asked for ahead of
	// its reader: the round trip of the next window must hide behind the
	// reading of those before it, and on a far server one window is read
	// faster than the next one arrives.
	windowsAhead = 2
	// walkOpens distinct opens in a mailbox, in any order, are a walk.
	walkOpens = 4
	// walkGap without an open ends a walk: opens an hour apart are not
	// one tool walking.
	walkGap = 10 * time.Second
)

type walker struct {
	store  *cache.Store
	budget int64 // bytes fetched ahead and not yet opened, at most

	// sizeWrong is set once the server's RFC822.SIZE was found wrong:
	// from then on a small message's size is checked when it is opened
	// (see file.Open).
	sizeWrong atomic.Bool

	mu    sync.Mutex
	walks map[string]*walk // by mailbox
}

// walk is the state of one mailbox's walk.
type walk struct {
	listing *cache.Listing
	byName  []int // indexes of listing.Messages in file-name order
	rank    []int // position of each message in file-name order

	last     uint32    // UID of the last message opened
	lastOpen time.Time // when
	opens    int       // distinct messages opened since the walk began
	order    order     // of the last two opens, when they followed one
	window   int       // messages in the next window of an ordered walk
	// fetched holds the messages asked for or opened: the bytes asked
	// for and not yet opened, or opened for those opened.
	fetched map[uint32]int64
	ahead   int64 // bytes asked for and not yet opened
	pending int   // messages asked for and not yet opened
	// Where the next look for messages to fetch starts, so that a walk
	// looks at each message once, not at every open: the position in
	// the ordered walk's order (scan, when scanning), and the index and
	// count of messages the unordered walk passed (sweepAt, swept).
	scan           int
	scanning       bool
	sweepAt, swept int
}

// opened is the fetched value of a message opened.
const opened = -1

// order is a sequence of a mailbox's messages and a direction in it.
type order struct {
	byName bool
	step   int // +1 or -1; 0: no order
}

// opened notes that a message was opened and prefetches what a walk will
// want next.
func (w *walker) opened(mailbox string, uid uint32) {
	l := w.store.Cached(mailbox)
	if l == nil {
		return
	}
	idx, ok := indexOf(l, uid)
	if !ok {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.walks == nil {
		w.walks = map[string]*walk{}
	}
	k := w.walks[mailbox]
	now := time.Now()
	if k == nil || k.listing.UIDValidity != l.UIDValidity || now.Sub(k.lastOpen) > walkGap {
		for name, old := range w.walks {
			if now.Sub(old.lastOpen) > walkGap {
				delete(w.walks, name) // walks that ended keep no memory
			}
		}
		k = &walk{listing: l, fetched: map[uint32]int64{}}
		w.walks[mailbox] = k
	} else if k.listing != l {
		// Refreshed: the same UIDs, maybe more or fewer, at other indexes.
		k.listing, k.byName, k.rank = l, nil, nil
		k.scanning, k.sweepAt, k.swept = false, 0, 0
	}
	prev, hadPrev := indexOf(l, k.last)
	hadPrev = hadPrev && k.opens > 0
	k.last, k.lastOpen = uid, now
	switch f, seen := k.fetched[uid]; {
	case !seen:
		k.opens++
	case f != opened:
		k.opens++
		k.ahead -= f
		k.pending--
	}
	k.fetched[uid] = opened
	if hadPrev && prev == idx {
		return // the same message again: no step in any order, nor away from one
	}

	o := order{}
	if hadPrev {
		o = k.orderOf(prev, idx)
	}
	switch {
	case o.step != 0:
		if o != k.order {
			k.order, k.window, k.scanning = o, 0, false
		}
		w.ordered(mailbox, k, idx)
	case k.opens >= walkOpens:
		k.order = order{}
		w.unordered(mailbox, k, idx)
	default:
		k.order = order{}
	}
}

// ordered asks for the next windows of messages in the walk's order: a
// window once less than windowsAhead-1 and a half of the last one (and
// half of the budget) is left ahead of the reader, windows growing
// fourfold up to prefetchMax. Up to windowsAhead windows go at once, so
// that the open that shows the order asks for the first two: the reader
// reaching the end of the first finds the second on its way instead of
// waiting a round trip for it.
func (w *walker) ordered(mailbox string, k *walk, idx int) {
	// The message just opened leads the first window: at the start of a
	// walk its reader has not asked for it yet, and so waits for it alone
	// instead of sending a command of its own behind the window (the
	// prefetch skips it when it is cached or being fetched already).
	lead := []uint32{k.listing.Messages[idx].UID}
	for range windowsAhead {
		lowWater := k.window/2 + (windowsAhead-1)*k.window
		if k.window == 0 {
			k.window = prefetchMin
		} else if k.pending > lowWater || k.ahead > w.budget/2 {
			return
		} else {
			k.window = min(4*k.window, prefetchMax)
		}
		uids := lead
		lead = nil
		n := len(k.listing.Messages)
		pos := k.position(idx) + k.order.step
		if k.scanning && (k.scan-pos)*k.order.step > 0 {
			pos = k.scan // what lies between was looked at already
		}
		taken := 0
		for ; pos >= 0 && pos < n && taken < k.window; pos += k.order.step {
			before := len(uids)
			if !w.take(k, k.at(pos), &uids) {
				break
			}
			taken += len(uids) - before
		}
		k.scan, k.scanning = pos, true
		w.ask(mailbox, k, uids)
		if taken == 0 {
			return // the end of the mailbox, or of the budget
		}
	}
}

// unordered asks for the rest of the mailbox, as much as the budget
// allows, starting after the message just opened; once the budget is
// spent, again when half of it was opened, so that each command still
// brings many messages.
func (w *walker) unordered(mailbox string, k *walk, idx int) {
	if k.ahead > w.budget/2 {
		return
	}
	var uids []uint32
	n := len(k.listing.Messages)
	if k.swept == 0 {
		k.sweepAt = idx + 1
	}
	for ; k.swept < n; k.sweepAt, k.swept = k.sweepAt+1, k.swept+1 {
		if !w.take(k, k.sweepAt%n, &uids) {
			break
		}
		if len(uids) == prefetchMax {
			w.ask(mailbox, k, uids)
			uids = nil
		}
	}
	w.ask(mailbox, k, uids)
}

// take adds message i to uids unless it was fetched or opened already;
// false once the budget is spent.
func (w *walker) take(k *walk, i int, uids *[]uint32) bool {
	m := k.listing.Messages[i]
	if _, done := k.fetched[m.UID]; done {
		return true
	}
	if k.ahead >= w.budget {
		return false
	}
	size := min(m.Size, cache.BlockSize) // only a first block is prefetched
	k.fetched[m.UID] = size
	k.ahead += size
	k.pending++
	*uids = append(*uids, m.UID)
	return true
}

func (w *walker) ask(mailbox string, k *walk, uids []uint32) {
	if len(uids) > 0 {
		w.store.Prefetch(mailbox, k.listing.UIDValidity, uids)
	}
}

// indexOf is where a UID stands in a listing.
func indexOf(l *cache.Listing, uid uint32) (int, bool) {
	return slices.BinarySearchFunc(l.Messages, uid, func(m cache.Message, uid uint32) int {
		return int(int64(m.UID) - int64(uid))
	})
}

// orderOf is the order that goes from message a to message b in one
// step, if any: the walk's own first (in name order, 100.eml to 101.eml
// is also a step in UID order).
func (k *walk) orderOf(a, b int) order {
	if k.order.step != 0 && k.position(b)-k.position(a) == k.order.step {
		return k.order
	}
	switch b - a {
	case 1:
		return order{step: 1}
	case -1:
		return order{step: -1}
	}
	switch k.namePos(b) - k.namePos(a) {
	case 1:
		return order{byName: true, step: 1}
	case -1:
		return order{byName: true, step: -1}
	}
	return order{}
}

// namePos is where message idx stands in file-name order.
func (k *walk) namePos(idx int) int {
	if k.byName == nil {
		k.byName = make([]int, len(k.listing.Messages))
		for i := range k.byName {
			k.byName[i] = i
		}
		msgs := k.listing.Messages
		slices.SortFunc(k.byName, func(a, b int) int {
			na, nb := strconv.FormatUint(uint64(msgs[a].UID), 10), strconv.FormatUint(uint64(msgs[b].UID), 10)
			if na+".eml" < nb+".eml" {
				return -1
			}
			return 1
		})
		k.rank = make([]int, len(k.byName))
		for pos, i := range k.byName {
			k.rank[i] = pos
		}
	}
	return k.rank[idx]
}

// position is where message idx stands in the walk's order.
func (k *walk) position(idx int) int {
	if k.order.byName {
		return k.namePos(idx)
	}
	return idx
}

// at is the message index at a position in the walk's order.
func (k *walk) at(pos int) int {
	if k.order.byName {
		k.namePos(0)
		return k.byName[pos]
	}
	return pos
}
