package fs

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"bazil.org/fuse"
	bfs "bazil.org/fuse/fs"

	"imapfs/cache"
)

// A new file in a mailbox is a pending message: its bytes go to a spool
// file on local disk, and it becomes a message with APPEND when it is
// complete:
//   - on close (FLUSH), unless its name is hidden (".name.XXXXXX", how
//     rsync and editors name a file they will rename) or it is empty, so
//     cp, cp -p (which sets times before closing) and cat > F upload then,
//     and close reports a failed upload;
//   - on fsync;
//   - on rename, which uploads into the target's mailbox: rsync writes,
//     closes, sets times and xattrs, then renames.
//
// Its mtime, if set, becomes the INTERNALDATE. Once stored it is listed as
// <newuid>.eml. A failed upload leaves it pending, its data in the spool
// file the log names, and the next close, fsync or rename tries again.
type pending struct {
	fs    *FS
	dir   *dir
	inode uint64
	path  string // the spool file

	mu       sync.Mutex
	name     string
	file     *os.File
	mtime    time.Time // set by the writer (utimes), zero otherwise
	flags    []string
	uploaded bool
	attempt  *cache.Upload // kept across attempts, against duplicates
}

var (
	_ bfs.Node          = (*pending)(nil)
	_ bfs.NodeOpener    = (*pending)(nil)
	_ bfs.NodeSetattrer = (*pending)(nil)
	_ bfs.NodeFsyncer   = (*pending)(nil)
	_ bfs.HandleReader  = (*pending)(nil)
	_ bfs.HandleWriter  = (*pending)(nil)
	_ bfs.HandleFlusher = (*pending)(nil)
	_ bfs.NodeCreater   = (*dir)(nil)
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
		inode: inode("pending", file.Name())}
	k := d.pendingKey(req.Name)
	d.fs.nodes.mu.Lock()
	if d.fs.nodes.pending == nil {
		d.fs.nodes.pending = map[pendingKey]*pending{}
	}
	d.fs.nodes.pending[k] = p
	d.fs.nodes.mu.Unlock()
	resp.Flags |= fuse.OpenDirectIO // the spool file is the truth, not the page cache
	return p, p, nil
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
	resp.Flags |= fuse.OpenDirectIO
	return p, nil
}

// Setattr takes the size (truncate) and the times; the mtime becomes the
// INTERNALDATE.
func (p *pending) Setattr(ctx context.Context, req *fuse.SetattrRequest, resp *fuse.SetattrResponse) error {
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

func (p *pending) Read(ctx context.Context, req *fuse.ReadRequest, resp *fuse.ReadResponse) error {
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

func (p *pending) Write(ctx context.Context, req *fuse.WriteRequest, resp *fuse.WriteResponse) error {
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

// Flush is a close: a file with a final name is uploaded now, and close
// reports the outcome. An empty file (touch, or an editor that creates
// before it writes) is no message yet and waits for content.
func (p *pending) Flush(ctx context.Context, req *fuse.FlushRequest) error {
	p.mu.Lock()
	hidden := strings.HasPrefix(p.name, ".")
	empty := true
	if info, err := p.file.Stat(); err == nil && info.Size() > 0 {
		empty = false
	}
	p.mu.Unlock()
	if hidden || empty {
		return nil
	}
	return p.upload(ctx, p.dir)
}

func (p *pending) Fsync(ctx context.Context, req *fuse.FsyncRequest) error {
	return p.upload(ctx, p.dir)
}

// upload stores the message in target's mailbox, once.
func (p *pending) upload(ctx context.Context, target *dir) error {
	ctx, cancel := p.fs.request(ctx)
	defer cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.uploaded {
		return nil
	}
	op := "upload " + joinPath(append(target.p(), p.name))
	self, _, err := target.folder(ctx)
	if err != nil {
		return p.fs.errno(op, err)
	}
	if self == nil || !self.Selectable {
		return syscall.EPERM
	}
	if err := p.file.Sync(); err != nil {
		return p.fs.errno(op, err)
	}
	if p.attempt == nil {
		p.attempt = &cache.Upload{Spool: p.path}
	}
	p.attempt.Flags, p.attempt.Date = p.flags, p.mtime
	_, err = p.fs.store.Append(ctx, self.Name, p.attempt)
	if err != nil {
		p.fs.log.Error(op+" failed; the message is kept", "spool", p.path, "err", err)
		return p.fs.errno(op, err)
	}
	p.uploaded = true
	p.file.Close()
	os.Remove(p.path)
	p.fs.dropPending(p.dir.pendingKey(p.name), p)
	// The name the writer chose is not the message's: <newuid>.eml is.
	go p.fs.invalidateEntry(p.dir, p.name)
	return nil
}

// discard drops a pending file that is removed before being stored.
func (p *pending) discard() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.uploaded {
		p.file.Close()
		os.Remove(p.path)
	}
	p.fs.dropPending(p.dir.pendingKey(p.name), p)
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
