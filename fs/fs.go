package fs

import (
	"context"
	"hash/fnv"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"bazil.org/fuse"
	bfs "bazil.org/fuse/fs"

	"imapfs/cache"
	"imapfs/imapclient"
)

// Config configures the filesystem.
type Config struct {
	Store    *cache.Store
	Logger   *slog.Logger
	ReadOnly bool
	// Timeout bounds every request to the server (rule 6: a caller never
	// hangs on a dead connection; it gets EIO).
	Timeout time.Duration
	// UID and GID own every file; the mounting user's by default.
	UID, GID uint32
	// Umask clears mode bits: directories have 0777 and files 0666 less
	// these (less the write bits on a read-only mount). 077 keeps the
	// mail to its owner.
	Umask os.FileMode
	// AttrTimeout and EntryTimeout, when set, replace imapfs's own choice
	// of how long the kernel keeps attributes and names.
	AttrTimeout, EntryTimeout *time.Duration
	// PrefetchBytes bounds what one prefetch window brings (a share of
	// the body cache, so prefetching never evicts what is being read).
	PrefetchBytes int64
	// SpoolDir holds new messages until they are stored (APPEND).
	SpoolDir string
	// Stats, if set, tells the mount's statistics (user.imapfs.stats).
	Stats func() string
}

// FS is the imapfs filesystem: its root is the account's personal
// namespace and every other namespace the server lists.
type FS struct {
	store    *cache.Store
	log      *slog.Logger
	readOnly bool
	timeout  time.Duration
	uid, gid uint32
	umask    os.FileMode
	requests requestCounts
	walker   walker
	ahead    listingsAhead
	spoolDir string
	stats    func() string
	server   *bfs.Server // for kernel invalidations; set by Serve
	nodes    nodes
	names    folderNamesMemo
	// attrTimeout and entryTimeout, when set, replace dirValid,
	// fileValid and the entry validity of lookups.
	attrTimeout, entryTimeout *time.Duration
	// memoryReturning: a return of memory to the system is scheduled
	// (see returnMemorySoon).
	memoryReturning atomic.Bool
}

// folderNamesMemo keeps the file names of the last folder list, and the
// tree they make, so that a lookup or a stat (one per file or directory a
// tool touches) does not map every mailbox name again, nor scan every
// mailbox for a directory's own.
type folderNamesMemo struct {
	mu      sync.Mutex
	folders []cache.Folder
	names   [][]string
	tree    map[string]treeEntry // by pathKey of the directory
	skipped map[string]bool      // mailboxes left out, logged once each
}

// treeEntry is one directory of the tree: its mailbox (an index in the
// folder list, -1 for none) and the names of its subdirectories, in the
// order of the folder list.
type treeEntry struct {
	self     int
	children []string
}

// pathKey is a directory's key in the tree: file names hold no NUL.
func pathKey(path []string) string { return strings.Join(path, "\x00") }

// folderNames returns fileNames of each folder's path; nil for a mailbox
// whose name cannot be a path of file names, which is left out of the
// tree (and logged) so that the rest of it lists.
func (f *FS) folderNames(folders []cache.Folder) [][]string {
	m := &f.names
	m.mu.Lock()
	defer m.mu.Unlock()
	f.rememberFoldersLocked(folders)
	return m.names
}

// folderTree returns the directories the folder list makes.
func (f *FS) folderTree(folders []cache.Folder) map[string]treeEntry {
	m := &f.names
	m.mu.Lock()
	defer m.mu.Unlock()
	f.rememberFoldersLocked(folders)
	return m.tree
}

// rememberFoldersLocked maps a folder list not mapped yet.
func (f *FS) rememberFoldersLocked(folders []cache.Folder) {
	m := &f.names
	if m.tree != nil && len(m.folders) == len(folders) && (len(folders) == 0 || &m.folders[0] == &folders[0]) {
		return
	}
	names := make([][]string, len(folders))
	tree := map[string]treeEntry{"": {self: -1}}
	listed := map[string]bool{} // pathKey of every subdirectory listed
	for i, folder := range folders {
		var ok bool
		if names[i], ok = fileNames(folder.Path); !ok {
			if !m.skipped[folder.Name] {
				if m.skipped == nil {
					m.skipped = map[string]bool{}
				}
				m.skipped[folder.Name] = true
				f.log.Warn("a mailbox is left out: its name cannot be a file name (an empty part, or NUL, CR or LF)",
					"mailbox", folder.Name, "delimiter", folder.Delimiter)
			}
			continue
		}
		for depth := range len(names[i]) + 1 {
			key := pathKey(names[i][:depth])
			e, ok := tree[key]
			if !ok {
				e.self = -1
			}
			if depth == len(names[i]) {
				e.self = i
			} else if sub := pathKey(names[i][:depth+1]); !listed[sub] {
				listed[sub] = true
				e.children = append(e.children, names[i][depth])
			}
			tree[key] = e
		}
	}
	m.folders, m.names, m.tree = folders, names, tree
}

var _ bfs.FS = (*FS)(nil)

// New makes the filesystem.
func New(cfg Config) *FS {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &FS{store: cfg.Store, log: log, readOnly: cfg.ReadOnly, timeout: cfg.Timeout,
		uid: cfg.UID, gid: cfg.GID, umask: cfg.Umask, attrTimeout: cfg.AttrTimeout, entryTimeout: cfg.EntryTimeout, walker: walker{store: cfg.Store, budget: cfg.PrefetchBytes},
		spoolDir: cfg.SpoolDir, stats: cfg.Stats}
}

// Root is the directory of top-level mailboxes.
func (f *FS) Root() (bfs.Node, error) {
	return &dir{fs: f}, nil
}

// request bounds a FUSE request's work on the server by the timeout.
func (f *FS) request(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, f.timeout)
}

// transfer bounds the work of a request that moves a message (storing
// one, reading its body) by inactivity instead: it fails once no byte
// moved for the timeout, however long the whole transfer takes, so a
// large message gets through a slow link while a stalled one fails as
// soon as any request would.
func (f *FS) transfer(ctx context.Context) (context.Context, context.CancelFunc) {
	return imapclient.WithIdleTimeout(ctx, f.timeout)
}

// Kernel caching. Message files never change for a UID, so their
// attributes may be cached long; directories change when mail arrives.
const (
	dirValid  = time.Second
	fileValid = time.Hour
)

// attrValid is how long the kernel may keep attributes: own, unless the
// mount says otherwise (-o attr_timeout=).
func (f *FS) attrValid(own time.Duration) time.Duration {
	if f.attrTimeout != nil {
		return *f.attrTimeout
	}
	return own
}

// answerLookup sets how long the kernel may keep the name a lookup
// answers: bazil's minute, unless the mount says otherwise (-o
// entry_timeout=).
func (f *FS) answerLookup(resp *fuse.LookupResponse) {
	if f.entryTimeout != nil {
		resp.EntryValid = *f.entryTimeout
	}
}

// inode gives every node a number that stays the same across lookups and
// mounts: a hash of what identifies it.
func inode(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	n := h.Sum64() &^ messageInodeBit
	if n <= 1 {
		n += 2 // 1 is the root's
	}
	return n
}

// mailboxInodes is the high half of the inodes of a mailbox's messages,
// whose low half is the UID (see messageInode): the top bit, set in no
// other inode (see inode), then 31 bits of a hash of the mailbox's name
// and UIDVALIDITY, so that they stay the same from one mount to the next.
// Two mailboxes whose hashes meet give the same UID the same inode; with
// nlink 1, no tool takes them for hard links.
func mailboxInodes(mailbox string, uidValidity uint32) uint64 {
	h := fnv.New32a()
	h.Write([]byte(mailbox))
	h.Write([]byte{0})
	h.Write([]byte(strconv.FormatUint(uint64(uidValidity), 10)))
	return messageInodeBit | uint64(h.Sum32()&^(1<<31))<<32
}

// messageInodeBit is set in the inodes of messages, and only theirs.
const messageInodeBit = 1 << 63

// dirMode is a directory's mode: writable unless the mount is read-only,
// less the umask.
func (f *FS) dirMode() os.FileMode {
	perm := os.FileMode(0o777)
	if f.readOnly {
		perm = 0o555
	}
	return os.ModeDir | perm&^f.umask
}

// fileMode is the mode of messages and new files, less the umask. A
// message is never written, but the owner's write bit lets them set its
// flags (user.imap.flags): with default_permissions (always so with
// allow_other) the kernel refuses setxattr on a file without it.
func (f *FS) fileMode() os.FileMode {
	perm := os.FileMode(0o666)
	if f.readOnly {
		perm = 0o444
	}
	return perm &^ f.umask
}

// errno turns an error for the kernel, logging what the errno hides.
func (f *FS) errno(op string, err error) error {
	return errnoFor(f.log, op, err)
}

// joinPath renders a node's path for logs.
func joinPath(path []string) string { return "/" + strings.Join(path, "/") }

// attrDefaults fills what every node shares.
func (f *FS) attrDefaults(a *fuse.Attr) {
	a.Uid, a.Gid = f.uid, f.gid
	a.Valid = f.attrValid(a.Valid)
	a.BlockSize = 4096
}

// Serve serves the filesystem on a mounted connection until it is
// unmounted.
func (f *FS) Serve(conn *fuse.Conn, debug bool) error {
	f.server = bfs.New(conn, f.ServeConfig(debug))
	return f.server.Serve(f)
}

// invalidateAttr makes the kernel forget a node's cached attributes. It
// must not run inside a request handler (the kernel may wait on it).
func (f *FS) invalidateAttr(n bfs.Node) {
	if f.server == nil {
		return
	}
	if err := f.server.InvalidateNodeAttr(n); err != nil && err != fuse.ErrNotCached {
		f.log.Debug("invalidate attributes", "err", err)
	}
}

// invalidateEntry makes the kernel forget a name in a directory, when a
// change left it with a name that is not the real one (a moved message is
// <newuid>.eml in its new mailbox). Not from inside a request handler.
func (f *FS) invalidateEntry(parent bfs.Node, name string) {
	if f.server == nil {
		return
	}
	if err := f.server.InvalidateEntry(parent, name); err != nil && err != fuse.ErrNotCached {
		f.log.Debug("invalidate entry", "name", name, "err", err)
	}
}
