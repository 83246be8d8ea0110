package fs

import (
	"context"
	"errors"
	"syscall"

	"bazil.org/fuse"
	bfs "bazil.org/fuse/fs"

	"imapfs/cache"
)

// file is one message: <UID>.eml, read-only, its bytes exactly the
// server's.
type file struct {
	fs          *FS
	mailbox     string
	uidValidity uint32
	msg         cache.Message
}

var (
	_ bfs.Node          = (*file)(nil)
	_ bfs.NodeOpener    = (*file)(nil)
	_ bfs.HandleReader  = (*file)(nil)
	_ bfs.HandleFlusher = (*file)(nil)
)

func (f *file) Attr(ctx context.Context, a *fuse.Attr) error {
	f.fs.attrDefaults(a)
	a.Inode = messageInode(f.mailbox, f.uidValidity, f.msg.UID)
	a.Mode = 0o444
	a.Nlink = 1
	a.Size = uint64(f.msg.Size)
	a.Blocks = (a.Size + 511) / 512
	a.Mtime, a.Ctime, a.Atime = f.msg.Date, f.msg.Date, f.msg.Date
	a.Valid = fileValid
	return nil
}

// Open refuses writing (messages are immutable on IMAP) and lets the kernel
// keep the page cache across opens: the bytes of a UID never change.
func (f *file) Open(ctx context.Context, req *fuse.OpenRequest, resp *fuse.OpenResponse) (bfs.Handle, error) {
	if !req.Flags.IsReadOnly() {
		if f.fs.readOnly {
			return nil, syscall.EROFS
		}
		return nil, syscall.EPERM
	}
	resp.Flags |= fuse.OpenKeepCache
	f.fs.walker.opened(f.mailbox, f.msg.UID)
	return f, nil
}

func (f *file) Read(ctx context.Context, req *fuse.ReadRequest, resp *fuse.ReadResponse) error {
	ctx, cancel := f.fs.request(ctx)
	defer cancel()
	buf := make([]byte, req.Size)
	n, err := f.fs.store.ReadAt(ctx, f.mailbox, f.uidValidity, f.msg.UID, f.msg.Size, buf, req.Offset)
	if err != nil {
		if errors.Is(err, cache.ErrGone) || errors.Is(err, cache.ErrStale) {
			return syscall.ESTALE
		}
		return f.fs.errno("read "+f.mailbox+"/"+messageName(f.msg.UID), err)
	}
	resp.Data = buf[:n]
	return nil
}

// Flush has nothing to do for a read-only message. Answering ENOSYS once
// makes the kernel stop sending FLUSH on every close, one request per
// message fewer for every tool that walks the mail.
func (f *file) Flush(ctx context.Context, req *fuse.FlushRequest) error {
	return syscall.ENOSYS
}
