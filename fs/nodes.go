package fs

import (
	"context"
	"slices"
	"strings"
	"sync"

	bfs "bazil.org/fuse/fs"

	"imapfs/cache"
)

// nodes keeps the node the kernel knows for each message and directory,
// so a second lookup returns the same one (bazil then reuses its node ID
// instead of registering a new node) until the kernel forgets it.
type nodes struct {
	mu      sync.Mutex
	files   map[fileKey]*file
	dirs    map[string]*dir
	pending map[pendingKey]*pending // new files not stored yet
	// entries is, for each message name in a mailbox directory, the node
	// the kernel's entry for that name stands for: the one its last
	// lookup of the name returned. rm and mv name a message by it. The
	// node knows its entry's directory (file.entry).
	entries map[entryKey]*file
	// revalidating are the mailboxes whose listing a lookup is having
	// refreshed in the background.
	revalidating map[string]bool
}

type entryKey struct {
	dir *dir
	uid uint32
}

type fileKey struct {
	mailbox          string
	uidValidity, uid uint32
}

var (
	_ bfs.NodeForgetter = (*file)(nil)
	_ bfs.NodeForgetter = (*dir)(nil)
)

func (f *FS) fileNode(mailbox string, uidValidity uint32, m cache.Message) *file {
	k := fileKey{mailbox, uidValidity, m.UID}
	f.nodes.mu.Lock()
	defer f.nodes.mu.Unlock()
	if n := f.nodes.files[k]; n != nil {
		return n
	}
	if f.nodes.files == nil {
		f.nodes.files = map[fileKey]*file{}
	}
	n := newFile(f, mailbox, uidValidity, m)
	f.nodes.files[k] = n
	return n
}

// Forget drops the node once the kernel no longer knows it.
func (n *file) Forget() {
	k := fileKey{n.mailboxName(), n.uidValidity, n.msg.UID}
	n.fs.nodes.mu.Lock()
	defer n.fs.nodes.mu.Unlock()
	if n.fs.nodes.files[k] == n {
		delete(n.fs.nodes.files, k)
	}
	if n.entry != nil {
		if e := (entryKey{n.entry, n.msg.UID}); n.fs.nodes.entries[e] == n {
			delete(n.fs.nodes.entries, e)
		}
		n.entry = nil
	}
}

// entered records n as the node the kernel's entry for its name in d now
// stands for, and returns it (for Lookup to give the kernel).
func (d *dir) entered(n *file) *file {
	d.fs.nodes.mu.Lock()
	defer d.fs.nodes.mu.Unlock()
	if d.fs.nodes.entries == nil {
		d.fs.nodes.entries = map[entryKey]*file{}
	}
	if old := (entryKey{n.entry, n.msg.UID}); n.entry != nil && n.entry != d && d.fs.nodes.entries[old] == n {
		delete(d.fs.nodes.entries, old)
	}
	d.fs.nodes.entries[entryKey{d, n.msg.UID}] = n
	n.entry = d
	return n
}

// entry is the node the kernel's entry for message uid's name in d
// stands for, nil when no lookup of it is known.
func (d *dir) entry(uid uint32) *file {
	d.fs.nodes.mu.Lock()
	defer d.fs.nodes.mu.Unlock()
	return d.fs.nodes.entries[entryKey{d, uid}]
}

// p is the directory's path now (a mailbox rename changes it).
func (d *dir) p() []string {
	d.fs.nodes.mu.Lock()
	defer d.fs.nodes.mu.Unlock()
	return d.path
}

func (f *FS) dirNode(path []string) *dir {
	k := strings.Join(path, "/")
	f.nodes.mu.Lock()
	defer f.nodes.mu.Unlock()
	if n := f.nodes.dirs[k]; n != nil {
		return n
	}
	if f.nodes.dirs == nil {
		f.nodes.dirs = map[string]*dir{}
	}
	n := &dir{fs: f, path: path}
	f.nodes.dirs[k] = n
	return n
}

// Forget drops the node once the kernel no longer knows it.
func (d *dir) Forget() {
	d.fs.nodes.mu.Lock()
	defer d.fs.nodes.mu.Unlock()
	k := strings.Join(d.path, "/")
	if d.fs.nodes.dirs[k] == d {
		delete(d.fs.nodes.dirs, k)
	}
}

// moved follows a mailbox rename in the nodes the kernel still holds: the
// directory at oldPath and those below it take their new paths, and the
// messages in the renamed mailboxes their new mailbox names.
func (f *FS) moved(oldPath, newPath []string, from, to, delimiter string) {
	f.nodes.mu.Lock()
	defer f.nodes.mu.Unlock()
	for k, d := range f.nodes.dirs {
		if !hasPrefix(d.path, oldPath) {
			continue
		}
		delete(f.nodes.dirs, k)
		d.path = append(slices.Clone(newPath), d.path[len(oldPath):]...)
		f.nodes.dirs[strings.Join(d.path, "/")] = d
	}
	for k, n := range f.nodes.files {
		if k.mailbox != from && !strings.HasPrefix(k.mailbox, from+delimiter) {
			continue
		}
		delete(f.nodes.files, k)
		n.mu.Lock()
		n.mailbox = to + k.mailbox[len(from):]
		k.mailbox = n.mailbox
		n.mu.Unlock()
		f.nodes.files[k] = n
	}
}

// forgetExpunged makes the kernel forget the names of the messages it
// knows in l's mailbox that l no longer holds (expunged by another
// client, or of an older UIDVALIDITY): the kernel keeps a name for a
// minute, and ls -l of a warm mailbox asks nothing while it does. Not
// from inside a request handler.
func (f *FS) forgetExpunged(d *dir, l *cache.Listing) {
	var gone []uint32
	f.nodes.mu.Lock()
	for k := range f.nodes.files {
		if k.mailbox != l.Mailbox {
			continue
		}
		if _, ok := l.Find(k.uid); !ok || k.uidValidity != l.UIDValidity {
			gone = append(gone, k.uid)
		}
	}
	f.nodes.mu.Unlock()
	for _, uid := range gone {
		f.invalidateEntry(d, messageName(uid))
	}
}

// revalidate refreshes the listing of d's mailbox in the background once
// the listing at hand (held) is older than the store's TTL, at most one
// refresh at a time per mailbox, and makes the kernel forget the names a
// new listing shows gone. A lookup answered from held calls it, so that it
// waits for no server.
func (f *FS) revalidate(d *dir, held *cache.Listing) {
	mailbox := held.Mailbox
	f.nodes.mu.Lock()
	if f.nodes.revalidating[mailbox] {
		f.nodes.mu.Unlock()
		return
	}
	if f.nodes.revalidating == nil {
		f.nodes.revalidating = map[string]bool{}
	}
	f.nodes.revalidating[mailbox] = true
	f.nodes.mu.Unlock()
	go func() {
		defer func() {
			f.nodes.mu.Lock()
			delete(f.nodes.revalidating, mailbox)
			f.nodes.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
		defer cancel()
		// Fresh within the TTL, the listing comes without asking.
		if l, err := f.store.Listing(ctx, mailbox); err == nil && l != held {
			f.forgetExpunged(d, l)
		}
	}()
}
