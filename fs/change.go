package fs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"

	"bazil.org/fuse"
	bfs "bazil.org/fuse/fs"

	"imapfs/cache"
)

var (
	_ bfs.NodeRemover   = (*dir)(nil)
	_ bfs.NodeMkdirer   = (*dir)(nil)
	_ bfs.NodeSymlinker = (*dir)(nil)
	_ bfs.NodeMknoder   = (*dir)(nil)
)

// Symlink and Mknod: a mailbox holds messages and mailboxes only, so
// symbolic links, FIFOs and devices are EPERM (bazil would say EIO).
func (d *dir) Symlink(ctx context.Context, req *fuse.SymlinkRequest) (bfs.Node, error) {
	return nil, d.notHere()
}

func (d *dir) Mknod(ctx context.Context, req *fuse.MknodRequest) (bfs.Node, error) {
	return nil, d.notHere()
}

func (d *dir) notHere() error {
	if d.fs.readOnly {
		return syscall.EROFS
	}
	return syscall.EPERM
}

// serverName is the server's name of the mailbox this directory stands
// for, from its own folder or from any mailbox below it ("" for the root).
func (d *dir) serverName(ctx context.Context) (name, delimiter string, err error) {
	if len(d.p()) == 0 {
		delimiter, err = d.fs.store.Delimiter(ctx)
		return "", delimiter, err
	}
	folders, err := d.fs.store.Folders(ctx)
	if err != nil {
		return "", "", err
	}
	for _, f := range folders {
		if names, ok := fileNames(f.Path); ok && hasPrefix(names, d.p()) && f.Delimiter != "" {
			return strings.Join(f.Path[:len(d.p())], f.Delimiter), f.Delimiter, nil
		}
	}
	return "", "", syscall.ENOENT
}

// Mkdir creates a mailbox (CREATE).
func (d *dir) Mkdir(ctx context.Context, req *fuse.MkdirRequest) (bfs.Node, error) {
	if d.fs.readOnly {
		return nil, syscall.EROFS
	}
	ctx, cancel := d.fs.request(ctx)
	defer cancel()
	component, err := nameToComponent(req.Name)
	if err != nil {
		return nil, syscall.EINVAL
	}
	parent, delimiter, err := d.serverName(ctx)
	if err != nil {
		return nil, d.fs.errno("mkdir "+joinPath(append(d.p(), req.Name)), err)
	}
	if strings.Contains(component, delimiter) {
		// It would make a hierarchy, not one directory.
		return nil, syscall.EINVAL
	}
	name := component
	if parent != "" {
		name = parent + delimiter + component
	}
	if err := d.fs.store.CreateMailbox(ctx, name); err != nil {
		return nil, d.fs.errno("mkdir "+joinPath(append(d.p(), req.Name)), err)
	}
	return d.fs.dirNode(append(slices.Clip(d.p()), req.Name)), nil
}

// Remove deletes a message (rm) or an empty mailbox (rmdir).
func (d *dir) Remove(ctx context.Context, req *fuse.RemoveRequest) error {
	if d.fs.readOnly {
		return syscall.EROFS
	}
	ctx, cancel := d.fs.request(ctx)
	defer cancel()
	op := "rm " + joinPath(append(d.p(), req.Name))
	if req.Dir {
		return d.fs.errno(op, d.removeMailbox(ctx, req.Name))
	}
	if p := d.fs.pendingFile(d.pendingKey(req.Name)); p != nil {
		if !p.discard() {
			d.fs.log.Info(op + ": the file was stored meanwhile, and is listed under its UID now")
			return syscall.ENOENT
		}
		return nil
	}
	self, _, err := d.folder(ctx)
	if err != nil {
		return d.fs.errno(op, err)
	}
	uid, ok := messageUID(req.Name)
	if !ok || self == nil || !self.Selectable {
		return syscall.ENOENT
	}
	uidValidity, err := d.heldMessage(ctx, self.Name, req.Name, uid)
	if err != nil {
		return d.changeErrno(op, err)
	}
	err = d.fs.store.Expunge(ctx, self.Name, uidValidity, uid)
	if errors.Is(err, cache.ErrNoUIDPlus) {
		d.fs.log.Error(op+" refused", "err", err)
		return syscall.EOPNOTSUPP
	}
	return d.changeErrno(op, err)
}

// heldMessage is the UIDVALIDITY of the message that name (of message
// uid) stands for in the kernel, which rm and mv act on: that of the node
// the kernel's entry holds, or today's when the kernel holds none. When
// the mailbox has another UIDVALIDITY now, the UID may name another
// message: the one named is gone (errGone), and the kernel's entry is
// dropped so that the name is looked up anew by the next command.
func (d *dir) heldMessage(ctx context.Context, mailbox, name string, uid uint32) (uint32, error) {
	l, err := d.fs.store.Listing(ctx, mailbox)
	if err != nil {
		return 0, err
	}
	if n := d.entry(uid); n != nil && n.uidValidity != l.UIDValidity {
		go d.fs.invalidateEntry(d, name)
		return 0, errGone
	}
	if _, found := l.Find(uid); !found {
		return 0, syscall.ENOENT
	}
	return l.UIDValidity, nil
}

// errGone: the message a change named went with its mailbox's
// UIDVALIDITY (cache.ErrStale). Not ESTALE: on ESTALE the kernel looks the
// name up again and repeats the unlink or rename, which would then act on
// whichever message holds the UID now.
var errGone = fmt.Errorf("%w: the mailbox was recreated since it was looked up", syscall.ENOENT)

// changeErrno is the errno for a change of a message that failed.
func (d *dir) changeErrno(op string, err error) error {
	if errors.Is(err, cache.ErrStale) {
		err = errGone
	}
	return d.fs.errno(op, err)
}

// removeMailbox deletes the mailbox named name in this directory, only
// when it holds no message and no other mailbox.
func (d *dir) removeMailbox(ctx context.Context, name string) error {
	child := d.fs.dirNode(append(slices.Clip(d.p()), name))
	self, children, err := child.folder(ctx)
	if err != nil {
		return err
	}
	if len(children) > 0 {
		return syscall.ENOTEMPTY
	}
	if self == nil {
		return nil // only implied by mailboxes that are gone
	}
	err = d.fs.store.DeleteMailbox(ctx, self.Name, self.Selectable)
	if errors.Is(err, cache.ErrNotEmpty) {
		return syscall.ENOTEMPTY
	}
	return err
}

var (
	_ bfs.NodeRenamer = (*dir)(nil)
	_ bfs.NodeLinker  = (*dir)(nil)
)

// Rename moves a message to another mailbox (mv A/F B/: MOVE) or renames
// a mailbox (mv DIR1 DIR2: RENAME, children follow). A message keeps its
// name only while it keeps its UID: renaming one within its mailbox is
// refused, and one moved appears in the target as <newuid>.eml.
func (d *dir) Rename(ctx context.Context, req *fuse.RenameRequest, newDir bfs.Node) error {
	if d.fs.readOnly {
		return syscall.EROFS
	}
	target, ok := newDir.(*dir)
	if !ok {
		return syscall.EXDEV
	}
	ctx, cancel := d.fs.request(ctx)
	defer cancel()
	op := "mv " + joinPath(append(d.p(), req.OldName)) + " " + joinPath(append(target.p(), req.NewName))
	self, children, err := d.folder(ctx)
	if err != nil {
		return d.fs.errno(op, err)
	}
	if slices.Contains(children, req.OldName) {
		return d.fs.errno(op, d.renameMailbox(ctx, req.OldName, target, req.NewName))
	}
	if p := d.fs.pendingFile(d.pendingKey(req.OldName)); p != nil {
		return p.renamed(ctx, target, req.NewName)
	}
	uid, isMessage := messageUID(req.OldName)
	if !isMessage || self == nil || !self.Selectable {
		return syscall.ENOENT
	}
	if target == d || slices.Equal(target.p(), d.p()) {
		return syscall.EPERM // a message's name is its UID
	}
	dst, _, err := target.folder(ctx)
	if err != nil {
		return d.fs.errno(op, err)
	}
	if dst == nil || !dst.Selectable {
		return syscall.EPERM // no mailbox to hold messages there
	}
	uidValidity, err := d.heldMessage(ctx, self.Name, req.OldName, uid)
	if err != nil {
		return d.changeErrno(op, err)
	}
	_, err = d.fs.store.Move(ctx, self.Name, uidValidity, uid, dst.Name)
	if errors.Is(err, cache.ErrNoUIDPlus) {
		d.fs.log.Error(op+" refused", "err", err)
		err = syscall.EOPNOTSUPP
	}
	// The kernel now has an entry NEWNAME in the target for the moved
	// message, whose name there is really <newuid>.eml: drop it.
	go d.fs.invalidateEntry(target, req.NewName)
	return d.changeErrno(op, err)
}

// renameMailbox renames the child mailbox name to newName in target.
func (d *dir) renameMailbox(ctx context.Context, name string, target *dir, newName string) error {
	component, err := nameToComponent(newName)
	if err != nil {
		return syscall.EINVAL
	}
	from, _, err := d.fs.dirNode(append(slices.Clip(d.p()), name)).serverName(ctx)
	if err != nil {
		return err
	}
	parent, delimiter, err := target.serverName(ctx)
	if err != nil {
		return err
	}
	if strings.Contains(component, delimiter) {
		return syscall.EINVAL
	}
	to := component
	if parent != "" {
		to = parent + delimiter + component
	}
	if err := d.fs.store.RenameMailbox(ctx, from, to); err != nil {
		return err
	}
	d.fs.moved(append(slices.Clip(d.p()), name), append(slices.Clip(target.p()), newName), from, to, delimiter)
	return nil
}

// Link copies a message into this directory's mailbox (ln A/F B/: COPY).
// The copy's name is <newuid>.eml, whatever name the link asked for.
func (d *dir) Link(ctx context.Context, req *fuse.LinkRequest, old bfs.Node) (bfs.Node, error) {
	if d.fs.readOnly {
		return nil, syscall.EROFS
	}
	src, ok := old.(*file)
	if !ok {
		return nil, syscall.EPERM
	}
	ctx, cancel := d.fs.request(ctx)
	defer cancel()
	op := "ln " + src.mailboxName() + "/" + messageName(src.msg.UID) + " " + joinPath(append(d.p(), req.NewName))
	self, _, err := d.folder(ctx)
	if err != nil {
		return nil, d.fs.errno(op, err)
	}
	if self == nil || !self.Selectable {
		return nil, syscall.EPERM
	}
	copied, err := d.fs.store.Copy(ctx, src.mailboxName(), src.uidValidity, src.msg.UID, self.Name)
	if err != nil {
		return nil, d.changeErrno(op, err)
	}
	go d.fs.invalidateEntry(d, req.NewName)
	if copied.UID == 0 {
		return src, nil // the server did not say where: the entry is dropped anyway
	}
	m := src.msg
	m.UID = copied.UID
	m.Size = src.size.Load()
	return d.fs.fileNode(self.Name, copied.UIDValidity, m), nil
}
