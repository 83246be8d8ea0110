package fs

import (
	"strings"
	"sync"

	bfs "bazil.org/fuse/fs"

	"imapfs/cache"
)

// nodes keeps the node the kernel knows for each message and directory,
// so a second lookup returns the same one (bazil then reuses its node ID
// instead of registering a new node) until the kernel forgets it.
type nodes struct {
	mu    sync.Mutex
	files map[fileKey]*file
	dirs  map[string]*dir
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
	k := fileKey{n.mailbox, n.uidValidity, n.msg.UID}
	n.fs.nodes.mu.Lock()
	defer n.fs.nodes.mu.Unlock()
	if n.fs.nodes.files[k] == n {
		delete(n.fs.nodes.files, k)
	}
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
	k := strings.Join(d.path, "/")
	d.fs.nodes.mu.Lock()
	defer d.fs.nodes.mu.Unlock()
	if d.fs.nodes.dirs[k] == d {
		delete(d.fs.nodes.dirs, k)
	}
}
