package fs

import (
	"slices"
	"strconv"
	"sync"

	"imapfs/cache"
)

// Tools that walk a mailbox (grep -r, cp -r, tar, rsync) open its messages
// one after the other, in UID order (readdir's) or in name order (rsync
// sorts names: 10.eml before 9.eml). Once two opens in a row follow one of
// these orders, the messages ahead are fetched in bulk, one pipelined
// command per window, so the server's round trips hide behind the
// kernel's work on the messages already here.

const (
	prefetchMin = 8   // messages in the first window
	prefetchMax = 128 // messages in a window at most
)

type walker struct {
	store  *cache.Store
	budget int64 // bytes one window may bring, a share of the body cache

	mu    sync.Mutex
	walks map[string]*walk // by mailbox
}

// walk is the state of one mailbox's walk.
type walk struct {
	listing *cache.Listing
	byName  []int // indexes of listing.Messages in file-name order
	rank    []int // position of each message in file-name order
	last    int   // index of the last message opened, in UID order
	order   int   // orderUID or orderName once detected
	run     int   // sequential opens so far
	ahead   int   // position (in order) up to which prefetch was asked
	window  int
}

const (
	orderNone = iota
	orderUID
	orderName
)

// opened notes that a message was opened and prefetches what a walk will
// want next.
func (w *walker) opened(mailbox string, uid uint32) {
	l := w.store.Cached(mailbox)
	if l == nil {
		return
	}
	idx, ok := slices.BinarySearchFunc(l.Messages, uid, func(m cache.Message, uid uint32) int {
		return int(int64(m.UID) - int64(uid))
	})
	if !ok {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.walks == nil {
		w.walks = map[string]*walk{}
	}
	k := w.walks[mailbox]
	if k == nil || k.listing != l {
		k = &walk{listing: l, last: -1}
		w.walks[mailbox] = k
	}
	order := orderNone
	switch {
	case k.last >= 0 && idx == k.last+1:
		order = orderUID
	case k.last >= 0 && k.namePos(idx) == k.namePos(k.last)+1:
		order = orderName
	}
	if order == orderNone || (k.order != orderNone && order != k.order) {
		k.run, k.ahead, k.window = 0, 0, 0
	}
	k.order, k.last = order, idx
	if order == orderNone {
		return
	}
	k.run++
	pos := k.position(idx)
	if k.ahead < pos+1 {
		k.ahead = pos + 1
	}
	// Ask for the next window once less than half of the current one is
	// left ahead of the reader.
	if k.window == 0 {
		k.window = prefetchMin
	} else if k.ahead-pos > k.window/2 {
		return
	} else {
		k.window = min(2*k.window, prefetchMax)
	}
	var uids []uint32
	var bytes int64
	for k.ahead < len(l.Messages) && len(uids) < k.window && bytes < w.budget {
		m := l.Messages[k.at(k.ahead)]
		uids = append(uids, m.UID)
		bytes += min(m.Size, cache.BlockSize)
		k.ahead++
	}
	if len(uids) > 0 {
		w.store.Prefetch(mailbox, l.UIDValidity, uids)
	}
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
	if k.order == orderName {
		return k.namePos(idx)
	}
	return idx
}

// at is the message index at a position in the walk's order.
func (k *walk) at(pos int) int {
	if k.order == orderName {
		k.namePos(0)
		return k.byName[pos]
	}
	return pos
}
