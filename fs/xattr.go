package fs

import (
	"context"
	"strconv"
	"strings"
	"syscall"

	"bazil.org/fuse"
	bfs "bazil.org/fuse/fs"

	"imapfs/imapclient"
)

// Extended attributes of messages (DESIGN's contract). So far: the flags,
// readable and writable (the whole list, space separated), and the UID.
// Pending new files take user.imap.flags too, and APPEND them.
const (
	xattrFlags        = "user.imap.flags"
	xattrUID          = "user.imap.uid"
	xattrInternalDate = "user.imap.internaldate"
	xattrModSeq       = "user.imap.modseq"
)

var (
	_ bfs.NodeGetxattrer    = (*file)(nil)
	_ bfs.NodeListxattrer   = (*file)(nil)
	_ bfs.NodeSetxattrer    = (*file)(nil)
	_ bfs.NodeGetxattrer    = (*pending)(nil)
	_ bfs.NodeListxattrer   = (*pending)(nil)
	_ bfs.NodeSetxattrer    = (*pending)(nil)
	_ bfs.NodeRemovexattrer = (*pending)(nil)
)

// otherNamespace tells attribute names outside user.*: imapfs keeps no
// security.* (SELinux labels), system.* (POSIX ACLs) or trusted.*
// attributes, and says so with EOPNOTSUPP rather than ENODATA. ls -l asks
// for a label and an ACL of every file, unless such an answer told it the
// filesystem has none: then it stops asking, which spares two round trips
// through FUSE per file.
func otherNamespace(name string) bool { return !strings.HasPrefix(name, "user.") }

// parseFlags reads a user.imap.flags value: flags separated by spaces;
// \Recent (the server's alone) and anything that is not a flag are
// refused with EINVAL.
func parseFlags(value []byte) ([]string, error) {
	var flags []string
	for _, f := range strings.Fields(string(value)) {
		if err := imapclient.ValidateFlag(f); err != nil {
			return nil, syscall.EINVAL
		}
		flags = append(flags, imapclient.CanonicalFlag(f))
	}
	if strings.ContainsAny(string(value), "\r\n\x00") {
		return nil, syscall.EINVAL
	}
	return flags, nil
}

// visibleFlags drops \Recent, which no one can set and which would not
// survive a copy.
func visibleFlags(flags []string) string {
	var out []string
	for _, f := range flags {
		if f != imapclient.FlagRecent {
			out = append(out, f)
		}
	}
	return strings.Join(out, " ")
}

func (f *file) Listxattr(ctx context.Context, req *fuse.ListxattrRequest, resp *fuse.ListxattrResponse) error {
	resp.Append(xattrFlags, xattrUID, xattrInternalDate)
	ctx, cancel := f.fs.request(ctx)
	defer cancel()
	if condstore, err := f.fs.store.Has(ctx, "CONDSTORE"); err == nil && condstore {
		resp.Append(xattrModSeq)
	}
	return nil
}

func (f *file) Getxattr(ctx context.Context, req *fuse.GetxattrRequest, resp *fuse.GetxattrResponse) error {
	if otherNamespace(req.Name) {
		return syscall.EOPNOTSUPP
	}
	switch req.Name {
	case xattrUID:
		resp.Xattr = []byte(strconv.FormatUint(uint64(f.msg.UID), 10))
	case xattrInternalDate:
		resp.Xattr = []byte(imapclient.Time2Internaldate(f.msg.Date()))
	case xattrModSeq:
		ctx, cancel := f.fs.request(ctx)
		defer cancel()
		modseq, err := f.fs.store.ModSeq(ctx, f.mailboxName(), f.uidValidity, f.msg.UID)
		if err != nil {
			return f.fs.errno("getxattr "+req.Name, err)
		}
		resp.Xattr = []byte(strconv.FormatUint(modseq, 10))
	case xattrFlags:
		// Listing, not Cached: flags change under other clients, and a
		// listing older than the TTL is refreshed (CHANGEDSINCE) first.
		ctx, cancel := f.fs.request(ctx)
		defer cancel()
		l, err := f.fs.store.Listing(ctx, f.mailboxName())
		if err != nil {
			return f.fs.errno("getxattr "+req.Name, err)
		}
		if l.UIDValidity != f.uidValidity {
			return syscall.ESTALE
		}
		m, ok := l.Find(f.msg.UID)
		if !ok {
			return syscall.ESTALE
		}
		resp.Xattr = []byte(visibleFlags(m.Flags()))
	default:
		return fuse.ErrNoXattr
	}
	return nil
}

// Setxattr of user.imap.flags replaces the message's flags (UID STORE
// FLAGS.SILENT).
func (f *file) Setxattr(ctx context.Context, req *fuse.SetxattrRequest) error {
	if req.Name != xattrFlags {
		return syscall.EOPNOTSUPP
	}
	if f.fs.readOnly {
		return syscall.EROFS
	}
	flags, err := parseFlags(req.Xattr)
	if err != nil {
		return err
	}
	ctx, cancel := f.fs.request(ctx)
	defer cancel()
	err = f.fs.store.SetFlags(ctx, f.mailboxName(), f.uidValidity, f.msg.UID, flags)
	return f.fs.errno("setfattr "+f.mailboxName()+"/"+messageName(f.msg.UID), err)
}

func (p *pending) Listxattr(ctx context.Context, req *fuse.ListxattrRequest, resp *fuse.ListxattrResponse) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.flags != nil {
		resp.Append(xattrFlags)
	}
	return nil
}

func (p *pending) Getxattr(ctx context.Context, req *fuse.GetxattrRequest, resp *fuse.GetxattrResponse) error {
	if otherNamespace(req.Name) {
		return syscall.EOPNOTSUPP
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if req.Name != xattrFlags || p.flags == nil {
		return fuse.ErrNoXattr
	}
	resp.Xattr = []byte(strings.Join(p.flags, " "))
	return nil
}

// Setxattr of user.imap.flags on a new file sets the flags it is APPENDed
// with. The other user.imap.* attributes a copy of a message carries (its
// UID, ...) are the server's to choose and are let go; any other name
// (a POSIX ACL cp -a copies, say) cannot be kept on a message:
// EOPNOTSUPP, which copying tools take as "not supported here".
func (p *pending) Setxattr(ctx context.Context, req *fuse.SetxattrRequest) error {
	if req.Name != xattrFlags && strings.HasPrefix(req.Name, "user.imap.") {
		return nil
	}
	if req.Name != xattrFlags {
		return syscall.EOPNOTSUPP
	}
	flags, err := parseFlags(req.Xattr)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.uploaded {
		return syscall.EPERM
	}
	p.flags = append([]string{}, flags...)
	return nil
}

func (p *pending) Removexattr(ctx context.Context, req *fuse.RemovexattrRequest) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if req.Name != xattrFlags || p.flags == nil {
		return fuse.ErrNoXattr
	}
	p.flags = nil
	return nil
}
