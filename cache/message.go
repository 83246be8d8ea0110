package cache

import (
	"strings"
	"sync"
	"time"
)

// Message is what a listing knows of one message. Size and Date never
// change for a UID; Flags do.
//
// It is 32 bytes and holds no pointer: a listing of 100,000 messages is
// one allocation of about 3 MB that the garbage collector need not scan.
// Flag lists are interned (most messages of a mailbox share one of a few),
// and the date is kept as seconds and a zone.
type Message struct {
	UID   uint32
	flags flagList
	Size  int64 // RFC822.SIZE, or the real size once a read found it different
	date  int64 // INTERNALDATE, Unix seconds
	zone  int32 // INTERNALDATE's zone, seconds east of UTC
}

// NewMessage makes a listing entry.
func NewMessage(uid uint32, size int64, date time.Time, flags []string) Message {
	_, zone := date.Zone()
	return Message{UID: uid, flags: internFlags(flags), Size: size, date: date.Unix(), zone: int32(zone)}
}

// Date is the INTERNALDATE, in the zone the server gave.
func (m Message) Date() time.Time {
	return time.Unix(m.date, 0).In(fixedZone(m.zone))
}

// Flags are the message's flags as the server listed them. The slice is
// shared: not to be modified.
func (m Message) Flags() []string { return m.flags.list() }

// withFlags is m with other flags.
func (m Message) withFlags(flags []string) Message {
	m.flags = internFlags(flags)
	return m
}

// flagList names a list of flags in flagLists; 0 is the empty list.
type flagList uint32

// flagLists holds every list of flags seen, once: a mailbox has a few
// dozen different ones (\Seen, \Seen \Answered, a label...) whatever its
// size.
var flagLists = struct {
	mu    sync.RWMutex
	ids   map[string]flagList
	lists [][]string
}{ids: map[string]flagList{"": 0}, lists: [][]string{nil}}

// internFlags returns the id of a list of flags, in its order.
func internFlags(flags []string) flagList {
	if len(flags) == 0 {
		return 0
	}
	key := strings.Join(flags, "\x00") // flags are atoms: no NUL in them
	flagLists.mu.RLock()
	id, ok := flagLists.ids[key]
	flagLists.mu.RUnlock()
	if ok {
		return id
	}
	flagLists.mu.Lock()
	defer flagLists.mu.Unlock()
	if id, ok := flagLists.ids[key]; ok {
		return id
	}
	id = flagList(len(flagLists.lists))
	flagLists.ids[key] = id
	flagLists.lists = append(flagLists.lists, strings.Split(key, "\x00"))
	return id
}

func (f flagList) list() []string {
	flagLists.mu.RLock()
	defer flagLists.mu.RUnlock()
	return flagLists.lists[f]
}

// zones holds a *time.Location per zone offset seen in a date.
var zones sync.Map

func fixedZone(offset int32) *time.Location {
	if offset == 0 {
		return time.UTC
	}
	if z, ok := zones.Load(offset); ok {
		return z.(*time.Location)
	}
	z, _ := zones.LoadOrStore(offset, time.FixedZone("", int(offset)))
	return z.(*time.Location)
}
