package fs

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"bazil.org/fuse"
	bfs "bazil.org/fuse/fs"

	"imapfs/cache"
)

// file is one message: <UID>.eml, read-only, its bytes exactly the
// server's.
type file struct {
	fs          *FS
	mu          sync.Mutex // guards mailbox, which a rename of the mailbox changes, and end
	mailbox     string
	uidValidity uint32
	msg         cache.Message
	// size is msg.Size until a read shows the server's RFC822.SIZE wrong.
	size atomic.Int64
	// entry is the directory whose entry for the message's name stands
	// for this node (see nodes.entries); guarded by nodes.mu.
	entry *dir
	// end is made by the first read that finds RFC822.SIZE wrong: a
	// listed mailbox has a node for every message, most never read.
	end *realEnd
}

// realEnd tells when the read that holds a message's real end was
// answered (see afterEnd).
type realEnd struct {
	read chan struct{} // closed once it was
	at   time.Time
}

// realEnd is the message's, made on first use; under mu.
func (f *file) realEnd() *realEnd {
	if f.end == nil {
		f.end = &realEnd{read: make(chan struct{})}
	}
	return f.end
}

// mailboxName is the server's name of the message's mailbox now.
func (f *file) mailboxName() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mailbox
}

func newFile(fs *FS, mailbox string, uidValidity uint32, m cache.Message) *file {
	f := &file{fs: fs, mailbox: mailbox, uidValidity: uidValidity, msg: m}
	f.size.Store(m.Size)
	return f
}

var (
	_ bfs.Node          = (*file)(nil)
	_ bfs.NodeOpener    = (*file)(nil)
	_ bfs.NodeSetattrer = (*file)(nil)
	_ bfs.HandleReader  = (*file)(nil)
	_ bfs.HandleFlusher = (*file)(nil)
)

// Setattr refuses what a message cannot take, with EPERM (EROFS on a
// read-only mount): a new size (truncate), mode, owner or modification
// time (touch; the mtime is the INTERNALDATE, which IMAP cannot change).
// Without it they would seem to succeed and change nothing. Setting an
// attribute to what it already is, and the access time alone, succeed.
func (f *file) Setattr(ctx context.Context, req *fuse.SetattrRequest, resp *fuse.SetattrResponse) error {
	v := req.Valid
	changes := v.Size() && int64(req.Size) != f.size.Load() ||
		v.Mode() && req.Mode&(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky) != f.fs.fileMode() ||
		v.Uid() && req.Uid != f.fs.uid || v.Gid() && req.Gid != f.fs.gid ||
		v.MtimeNow() || v.Mtime() && !req.Mtime.Equal(f.msg.Date())
	switch {
	case !changes:
		return nil
	case f.fs.readOnly:
		return syscall.EROFS
	}
	f.fs.log.Debug("a message's attributes cannot change", "message", f.mailboxName()+"/"+messageName(f.msg.UID), "change", v.String())
	return syscall.EPERM
}

func (f *file) Attr(ctx context.Context, a *fuse.Attr) error {
	f.fs.attrDefaults(a)
	a.Inode = messageInode(f.mailboxName(), f.uidValidity, f.msg.UID)
	a.Mode = f.fs.fileMode()
	a.Nlink = 1
	a.Size = uint64(f.size.Load())
	a.Blocks = (a.Size + 511) / 512
	date := f.msg.Date()
	a.Mtime, a.Ctime, a.Atime = date, date, date
	a.Valid = f.fs.attrValid(fileValid)
	return nil
}

// Open refuses writing: messages are immutable on IMAP. A writer that
// means to replace the file (cp onto it, a shell's >: the kernel does not
// pass on their O_TRUNC, so a plain write open stands for them) gets
// EEXIST, "File exists", as the name is taken by the server's message;
// appending, and touch (whose open is non-blocking), get EPERM, as do
// the attribute changes in Setattr. It lets the kernel keep the page
// cache across opens: the bytes of a UID never change.
//
// It asks the server nothing: a message's size is taken as RFC822.SIZE
// says until the server was once found wrong about a size. A message
// smaller than a block is checked here, though, when its bytes are at
// hand (cached, or prefetched by a walk), and once sizes are in doubt it
// is fetched whole here (the read needs it anyway; on a walk the wait is
// for the prefetch, not a round trip of its own). When RFC822.SIZE is
// wrong the file is opened with direct I/O, so reads are served exactly
// and the kernel neither cuts them at the wrong size nor pads them, and
// its attributes are corrected. Without the check a read finds the
// wrong size instead (see Read).
func (f *file) Open(ctx context.Context, req *fuse.OpenRequest, resp *fuse.OpenResponse) (bfs.Handle, error) {
	if !req.Flags.IsReadOnly() {
		if f.fs.readOnly {
			return nil, syscall.EROFS
		}
		if req.Flags&(fuse.OpenAppend|fuse.OpenNonblock) != 0 {
			return nil, syscall.EPERM
		}
		return nil, syscall.EEXIST
	}
	mailbox := f.mailboxName()
	f.fs.walker.opened(mailbox, f.msg.UID)
	f.fs.readInto(mailbox)
	resp.Flags |= fuse.OpenKeepCache | openNoFlush
	size := f.size.Load()
	if size >= cache.BlockSize {
		return f, nil
	}
	data, ok := f.fs.store.CachedFirstBlock(mailbox, f.uidValidity, f.msg.UID)
	if !ok && !f.fs.walker.sizeWrong.Load() {
		return f, nil
	}
	if !ok {
		ctx, cancel := f.fs.transfer(ctx)
		defer cancel()
		var err error
		if data, err = f.fs.store.FirstBlock(ctx, mailbox, f.uidValidity, f.msg.UID); err != nil {
			return nil, f.readErrno(err)
		}
	}
	if real := int64(len(data)); real < cache.BlockSize && real != size {
		f.fs.walker.sizeWrong.Store(true)
		f.fs.store.CorrectSize(mailbox, f.uidValidity, f.msg.UID, real)
		f.size.Store(real)
		resp.Flags &^= fuse.OpenKeepCache
		resp.Flags |= fuse.OpenDirectIO
		go f.fs.invalidateAttr(f) // not from inside the handler
	}
	return f, nil
}

// readErrno maps a failed read: a message that is gone is a stale handle.
func (f *file) readErrno(err error) error {
	if errors.Is(err, cache.ErrGone) || errors.Is(err, cache.ErrStale) {
		return syscall.ESTALE
	}
	return f.fs.errno("read "+f.mailboxName()+"/"+messageName(f.msg.UID), err)
}

func (f *file) Read(ctx context.Context, req *fuse.ReadRequest, resp *fuse.ReadResponse) error {
	ctx, cancel := f.fs.transfer(ctx)
	defer cancel()
	size := f.size.Load()
	data, end, err := f.fs.store.Read(ctx, f.mailboxName(), f.uidValidity, f.msg.UID, size, req.Size, req.Offset)
	if err != nil {
		return f.readErrno(err)
	}
	if end < 0 && req.Offset >= size && size != f.msg.Size {
		// Past an end found by an earlier read, asked by a kernel that
		// still believes RFC822.SIZE.
		end = size
	}
	if end >= 0 {
		// The server's RFC822.SIZE was wrong. The kernel takes the short
		// read as the end and sets the file's size to it; the attributes
		// must say the same when it asks again, or the end would move
		// back and reads past it find the zeros the kernel filled in.
		// (Invalidating them now would race the short read: the kernel
		// then ignores the size it learned.)
		// A body longer than its size was cut by the kernel at the size
		// it knew: the next read must find the real one.
		if old := f.size.Swap(end); end != old {
			f.fs.walker.sizeWrong.Store(true)
			if end > old {
				go f.fs.invalidateAttr(f) // not from inside the handler
			}
		}
		switch {
		case req.Offset <= end && end < req.Offset+int64(req.Size):
			defer f.endAnswered()
		case req.Offset > end:
			f.afterEnd()
		}
	}
	resp.Data = data // the cache's own bytes: the FUSE library only writes them out
	return nil
}

// endAnswered records that the read holding the real end was answered
// (the FUSE library writes the answer just after the handler returns).
func (f *file) endAnswered() {
	f.mu.Lock()
	defer f.mu.Unlock()
	end := f.realEnd()
	select {
	case <-end.read:
	default:
		end.at = time.Now()
		close(end.read)
	}
}

// afterEnd holds the answer to a read past the real end of a message whose
// RFC822.SIZE claimed more until the read that holds the end has been
// answered. The kernel reads ahead in several requests at once, and takes
// a short answer as the file's end only if no other answer changed the
// file's attributes since it asked: answered first, the empty read past
// the end would set the size to its own offset, and the kernel would then
// ignore the true end and show the zeros it fills short pages with, up to
// that offset. The read holding the end may not even have reached imapfs
// yet, so this waits for its answer, not for the reads in flight; bounded,
// as a read straight past the end (dd skip=) has no such read before it.
func (f *file) afterEnd() {
	const (
		wait = time.Second
		// answerWrite is the time given to the FUSE library to write
		// the answer after its handler returned.
		answerWrite = 20 * time.Millisecond
	)
	f.mu.Lock()
	end := f.realEnd()
	f.mu.Unlock()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-end.read:
	case <-timer.C:
		// No read holds the end (a read straight past it): the reads
		// past it that follow need not wait either.
		f.endAnswered()
		return
	}
	f.mu.Lock()
	since := time.Since(end.at)
	f.mu.Unlock()
	if since < answerWrite {
		time.Sleep(answerWrite - since)
	}
}

// openNoFlush is the kernel's FOPEN_NOFLUSH, which bazil does not name:
// closing a message sends no FLUSH, one request per message fewer for
// every tool that walks the mail. (Answering FLUSH with ENOSYS would do
// the same, but for every file of the mount, and files being written need
// FLUSH to report a failed upload to close.)
const openNoFlush fuse.OpenResponseFlags = 1 << 5

// Flush has nothing to do for a read-only message (kernels without
// FOPEN_NOFLUSH still send it).
func (f *file) Flush(ctx context.Context, req *fuse.FlushRequest) error {
	return nil
}
