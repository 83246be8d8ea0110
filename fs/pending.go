package fs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"bazil.org/fuse"
	bfs "bazil.org/fuse/fs"

	"imapfs/cache"
)

// A new file in a mailbox is a pending message: its bytes go to a spool
// file on local disk, and it becomes a message with APPEND once, complete,
// when its last writer is done:
//   - at a close (FLUSH) by the process that opened the only open handle,
//     when neither it nor a process it started holds another descriptor
//     of it, so cp, cp -p (which sets times before closing), cat > F and
//     a shell's { a; b; } > F upload at their last close, and close
//     reports a failed upload. A close by another process holding a copy
//     of the descriptor (each command of { a; b; } > F), or while another
//     handle is open (a reader, a second writer), stores nothing;
//   - else at the release of the last handle, after the last close (its
//     outcome only in the log);
//   - on rename, which uploads into the target's mailbox: rsync writes,
//     closes, sets times and xattrs, then renames.
//
// A file with a hidden name (".name.XXXXXX", how rsync and editors name a
// file they will rename) is only stored when renamed to a name without a
// leading dot, and an empty one (touch, or an editor that creates before it
// writes) waits for content. Its mtime, if set, becomes the INTERNALDATE.
// Once stored it is listed as <newuid>.eml; a message the mailbox holds
// already (same bytes, see cache.Store.Append) is not stored again, and
// the file is then the existing one's <uid>.eml. A failed upload leaves it
// pending, its data in the spool file the log names, and the next close,
// fsync or rename tries again; the files still pending at unmount are
// named in the log, and their spool files kept.
type pending struct {
	fs    *FS
	dir   *dir
	inode uint64
	path  string // the spool file

	// storing is held across an upload, so that writes, truncations and
	// other uploads wait for it while lookups, listings, stats and reads,
	// which take mu alone, do not.
	storing sync.Mutex

	mu       sync.Mutex
	name     string
	file     *os.File
	mtime    time.Time // set by the writer (utimes), zero otherwise
	flags    []string
	uploaded bool
	// removed: rm'd before being stored. Its spool file is unlinked and,
	// like a removed file anywhere, still takes the writes of whoever
	// holds it open until the last handle goes; nothing is stored.
	removed bool
	attempt *cache.Upload // kept across attempts, against duplicates
	handles int           // open handles
}

// pendingHandle is one open of a pending file. opener is the process (the
// thread, as FUSE names it) that opened it: its close is the writer's last
// one, where the descriptor was not shared with another process or that
// process closed first.
type pendingHandle struct {
	p      *pending
	opener uint32
	tried  bool // an upload was tried at its close
}

var (
	_ bfs.Node           = (*pending)(nil)
	_ bfs.NodeOpener     = (*pending)(nil)
	_ bfs.NodeSetattrer  = (*pending)(nil)
	_ bfs.NodeFsyncer    = (*pending)(nil)
	_ bfs.HandleReader   = (*pendingHandle)(nil)
	_ bfs.HandleWriter   = (*pendingHandle)(nil)
	_ bfs.HandleFlusher  = (*pendingHandle)(nil)
	_ bfs.HandleReleaser = (*pendingHandle)(nil)
	_ bfs.NodeCreater    = (*dir)(nil)
)

// pendingKey names a pending file: its directory's path and its name.
type pendingKey struct{ dir, name string }

func (d *dir) pendingKey(name string) pendingKey {
	return pendingKey{strings.Join(d.p(), "/"), name}
}

func (f *FS) pendingFile(k pendingKey) *pending {
	f.nodes.mu.Lock()
	defer f.nodes.mu.Unlock()
	return f.nodes.pending[k]
}

// pendingIn lists the pending files of a directory.
func (f *FS) pendingIn(d *dir) []*pending {
	dirKey := strings.Join(d.p(), "/")
	f.nodes.mu.Lock()
	defer f.nodes.mu.Unlock()
	var out []*pending
	for k, p := range f.nodes.pending {
		if k.dir == dirKey {
			out = append(out, p)
		}
	}
	return out
}

func (f *FS) dropPending(k pendingKey, p *pending) {
	f.nodes.mu.Lock()
	defer f.nodes.mu.Unlock()
	if f.nodes.pending[k] == p {
		delete(f.nodes.pending, k)
	}
}

// Create starts a pending message.
func (d *dir) Create(ctx context.Context, req *fuse.CreateRequest, resp *fuse.CreateResponse) (bfs.Node, bfs.Handle, error) {
	if d.fs.readOnly {
		return nil, nil, syscall.EROFS
	}
	ctx, cancel := d.fs.request(ctx)
	defer cancel()
	self, _, err := d.folder(ctx)
	if err != nil {
		return nil, nil, d.fs.errno("create "+joinPath(append(d.p(), req.Name)), err)
	}
	if self == nil || !self.Selectable {
		return nil, nil, syscall.EPERM // nowhere to store a message
	}
	if d.fs.spoolDir == "" {
		return nil, nil, syscall.EROFS
	}
	file, err := os.CreateTemp(d.fs.spoolDir, "upload-*.eml")
	if err != nil {
		return nil, nil, d.fs.errno("create "+joinPath(append(d.p(), req.Name)), err)
	}
	p := &pending{fs: d.fs, dir: d, name: req.Name, file: file, path: file.Name(),
		inode: inode("pending", file.Name()), handles: 1}
	k := d.pendingKey(req.Name)
	d.fs.nodes.mu.Lock()
	if d.fs.nodes.pending == nil {
		d.fs.nodes.pending = map[pendingKey]*pending{}
	}
	d.fs.nodes.pending[k] = p
	d.fs.nodes.mu.Unlock()
	resp.Flags |= fuse.OpenDirectIO // the spool file is the truth, not the page cache
	return p, &pendingHandle{p: p, opener: req.Pid}, nil
}

func (p *pending) Attr(ctx context.Context, a *fuse.Attr) error {
	p.fs.attrDefaults(a)
	p.mu.Lock()
	defer p.mu.Unlock()
	a.Inode = p.inode
	a.Mode = p.fs.fileMode()
	a.Nlink = 1
	if info, err := p.file.Stat(); err == nil {
		a.Size = uint64(info.Size())
		a.Mtime = info.ModTime()
	}
	if !p.mtime.IsZero() {
		a.Mtime = p.mtime
	}
	a.Ctime, a.Atime = a.Mtime, a.Mtime
	a.Valid = 0
	return nil
}

func (p *pending) Open(ctx context.Context, req *fuse.OpenRequest, resp *fuse.OpenResponse) (bfs.Handle, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.uploaded {
		return nil, syscall.ESTALE // it is a message under its UID now
	}
	if p.removed {
		return nil, syscall.ENOENT
	}
	p.handles++
	resp.Flags |= fuse.OpenDirectIO
	return &pendingHandle{p: p, opener: req.Pid}, nil
}

// Setattr takes the size (truncate) and the times; the mtime becomes the
// INTERNALDATE.
func (p *pending) Setattr(ctx context.Context, req *fuse.SetattrRequest, resp *fuse.SetattrResponse) error {
	p.storing.Lock()
	defer p.storing.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.uploaded {
		return syscall.ESTALE // it is a message under its UID now
	}
	if req.Valid.Size() {
		if err := p.file.Truncate(int64(req.Size)); err != nil {
			return p.fs.errno("truncate "+p.name, err)
		}
	}
	if req.Valid.Mtime() {
		p.mtime = req.Mtime
	}
	return nil
}

func (h *pendingHandle) Read(ctx context.Context, req *fuse.ReadRequest, resp *fuse.ReadResponse) error {
	p := h.p
	p.mu.Lock()
	defer p.mu.Unlock()
	buf := make([]byte, req.Size)
	n, err := p.file.ReadAt(buf, req.Offset)
	if err != nil && n == 0 && !errors.Is(err, os.ErrClosed) {
		resp.Data = nil
		return nil // EOF
	}
	resp.Data = buf[:n]
	return nil
}

func (h *pendingHandle) Write(ctx context.Context, req *fuse.WriteRequest, resp *fuse.WriteResponse) error {
	p := h.p
	p.storing.Lock() // not while the spool file is being sent
	defer p.storing.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.uploaded {
		return syscall.EPERM // a stored message is immutable
	}
	n, err := p.file.WriteAt(req.Data, req.Offset)
	resp.Size = n
	if err != nil {
		return p.fs.errno("write "+p.name, err)
	}
	return nil
}

// Flush is a close: by the opener of the only open handle, holding no
// other descriptor of it, it is the last writer's, and a complete file is
// uploaded now, close reporting the outcome.
func (h *pendingHandle) Flush(ctx context.Context, req *fuse.FlushRequest) error {
	p := h.p
	p.mu.Lock()
	last := p.handles == 1 && req.Pid == h.opener
	name := p.name
	p.mu.Unlock()
	if !last || !p.complete() || holds(req.Pid, p.inode, name) {
		return nil
	}
	p.mu.Lock()
	h.tried = true
	p.mu.Unlock()
	return p.upload(ctx, p.dir)
}

// Release ends a handle: after the last one, a complete file not stored at
// a close (its last writer was not its opener) is uploaded now.
func (h *pendingHandle) Release(ctx context.Context, req *fuse.ReleaseRequest) error {
	p := h.p
	p.mu.Lock()
	p.handles--
	last := p.handles == 0
	tried := h.tried
	if last && p.removed {
		p.file.Close()
	}
	p.mu.Unlock()
	if !last || tried || !p.complete() {
		return nil
	}
	// Nobody waits for the outcome: upload logs a failure and keeps the
	// spool file.
	p.upload(ctx, p.dir)
	return nil
}

// holds tells whether process pid, or a process it started, still holds
// a descriptor of the file with inode ino, as /proc shows: a shell that
// redirects a command's output to a descriptor opened with exec 3> F
// closes a copy of it when the command ends, and keeps writing through
// the other; a process may close its descriptor while a child it started
// writes on through its copy. A process that cannot be inspected (it is
// exiting, and so closing all it has) holds nothing.
func holds(pid uint32, ino uint64, name string) bool {
	// Descendants, breadth first, bounded: a close must not wait on a
	// walk of a whole process tree.
	const most = 64
	queue := []string{strconv.FormatUint(uint64(pid), 10)}
	for i := 0; i < len(queue) && i < most; i++ {
		if holdsItself(queue[i], ino, name) {
			return true
		}
		queue = append(queue, children(queue[i])...)
	}
	return false
}

// children lists the processes that process pid started, from each of its
// threads' children file.
func children(pid string) []string {
	tasks, err := os.ReadDir("/proc/" + pid + "/task")
	if err != nil {
		return nil
	}
	var kids []string
	for _, task := range tasks {
		list, err := os.ReadFile("/proc/" + pid + "/task/" + task.Name() + "/children")
		if err == nil {
			kids = append(kids, strings.Fields(string(list))...)
		}
	}
	return kids
}

// holdsItself tells whether process pid holds a descriptor of the file.
func holdsItself(pid string, ino uint64, name string) bool {
	fds := "/proc/" + pid + "/fd"
	entries, err := os.ReadDir(fds)
	if err != nil {
		return false
	}
	for _, e := range entries {
		// The link names the file by its path: only those that may be
		// ours are checked further, by inode, which reads no attributes
		// from the file system (and so makes no request to it).
		target, err := os.Readlink(filepath.Join(fds, e.Name()))
		if err != nil || !strings.Contains(target, "/"+name) {
			continue
		}
		info, err := os.ReadFile(fds + "info/" + e.Name())
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(info), "\n") {
			if v, ok := strings.CutPrefix(line, "ino:"); ok && strings.TrimSpace(v) == strconv.FormatUint(ino, 10) {
				return true
			}
		}
	}
	return false
}

// complete tells whether the file is a message to store at its last
// close: not stored yet, not empty, not under a hidden name.
func (p *pending) complete() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.uploaded || p.removed || strings.HasPrefix(p.name, ".") {
		return false
	}
	info, err := p.file.Stat()
	return err == nil && info.Size() > 0
}

// Fsync makes the spool file durable and stores nothing: writers fsync
// before they are done (rsync --fsync syncs each file under its temporary
// name, then sets its times and renames it; a logger syncs as it goes).
// The message is stored at the last writer's close, or at the rename.
func (p *pending) Fsync(ctx context.Context, req *fuse.FsyncRequest) error {
	p.storing.Lock()
	defer p.storing.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.uploaded {
		return nil
	}
	if err := p.file.Sync(); err != nil {
		return p.fs.errno("fsync "+p.name, err)
	}
	return nil
}

// upload stores the message in target's mailbox, once. It holds storing,
// not mu, across the APPEND: a listing of the directory, a stat or a read
// of the file does not wait for it.
func (p *pending) upload(ctx context.Context, target *dir) error {
	ctx, cancel := p.fs.transfer(ctx)
	defer cancel()
	p.storing.Lock()
	defer p.storing.Unlock()
	p.mu.Lock()
	if p.uploaded || p.removed {
		p.mu.Unlock()
		return nil
	}
	name := p.name
	if p.attempt == nil {
		p.attempt = &cache.Upload{Spool: p.path}
	}
	attempt := p.attempt
	attempt.Flags, attempt.Date = p.flags, p.mtime
	err := p.file.Sync()
	p.mu.Unlock()
	op := "upload " + joinPath(append(target.p(), name))
	// Whatever failed, the log says where the message is kept.
	kept := func(err error) error {
		p.fs.log.Error(op+" failed; the message is kept", "spool", p.path, "err", err)
		return p.fs.errno(op, err)
	}
	if err != nil {
		return kept(err)
	}
	self, _, err := target.folder(ctx)
	if err != nil {
		return kept(err)
	}
	if self == nil || !self.Selectable {
		return kept(syscall.EPERM)
	}
	if _, err = p.fs.store.Append(ctx, self.Name, attempt); err != nil {
		return kept(err)
	}
	p.mu.Lock()
	p.uploaded = true
	p.file.Close()
	os.Remove(p.path)
	name = p.name
	p.mu.Unlock()
	p.fs.dropPending(p.dir.pendingKey(name), p)
	// The name the writer chose is not the message's: <newuid>.eml is.
	go p.fs.invalidateEntry(p.dir, name)
	return nil
}

// discard drops a pending file that is removed (rm) before being stored,
// and tells whether it was. An upload under way is waited for: a file
// that became a message meanwhile is not removed (rm never deletes mail
// that the user did not name), and rm then finds no file of that name.
func (p *pending) discard() bool {
	p.storing.Lock()
	defer p.storing.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.uploaded {
		return false
	}
	if !p.removed {
		p.removed = true
		os.Remove(p.path)
		if p.handles == 0 {
			p.file.Close()
		}
	}
	p.fs.dropPending(p.dir.pendingKey(p.name), p)
	return true
}

// renamed moves a pending file: to a final name in the same directory it
// is uploaded there; to another mailbox directory, uploaded into that one.
func (p *pending) renamed(ctx context.Context, target *dir, newName string) error {
	if strings.HasPrefix(newName, ".") && target == p.dir {
		p.mu.Lock()
		oldKey := p.dir.pendingKey(p.name)
		p.name = newName
		p.mu.Unlock()
		p.fs.nodes.mu.Lock()
		delete(p.fs.nodes.pending, oldKey)
		p.fs.nodes.pending[target.pendingKey(newName)] = p
		p.fs.nodes.mu.Unlock()
		return nil
	}
	if err := p.upload(ctx, target); err != nil {
		return err
	}
	go p.fs.invalidateEntry(target, newName)
	return nil
}

// LogPending names in the log every file not stored (a hidden name never
// renamed, an empty file, a failed upload) and its spool file, which is
// kept: at unmount, nothing written is dropped silently.
func (f *FS) LogPending() {
	f.nodes.mu.Lock()
	all := make([]*pending, 0, len(f.nodes.pending))
	for _, p := range f.nodes.pending {
		all = append(all, p)
	}
	f.nodes.mu.Unlock()
	for _, p := range all {
		p.mu.Lock()
		if !p.uploaded {
			f.log.Warn("a new file was not stored; its data is kept in the spool",
				"file", joinPath(append(p.dir.p(), p.name)), "spool", p.path)
		}
		p.mu.Unlock()
	}
}
