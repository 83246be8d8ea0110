package fs

import (
	"context"
	"errors"
	"slices"
	"strings"
	"syscall"

	"bazil.org/fuse"
	bfs "bazil.org/fuse/fs"

	"imapfs/cache"
)

var (
	_ bfs.NodeRemover = (*dir)(nil)
	_ bfs.NodeMkdirer = (*dir)(nil)
)

// serverName is the server's name of the mailbox this directory stands
// for, from its own folder or from any mailbox below it ("" for the root).
func (d *dir) serverName(ctx context.Context) (name, delimiter string, err error) {
	if len(d.path) == 0 {
		delimiter, err = d.fs.store.Delimiter(ctx)
		return "", delimiter, err
	}
	folders, err := d.fs.store.Folders(ctx)
	if err != nil {
		return "", "", err
	}
	for _, f := range folders {
		if names := fileNames(f.Path); hasPrefix(names, d.path) && f.Delimiter != "" {
			return strings.Join(f.Path[:len(d.path)], f.Delimiter), f.Delimiter, nil
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
		return nil, d.fs.errno("mkdir "+joinPath(append(d.path, req.Name)), err)
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
		return nil, d.fs.errno("mkdir "+joinPath(append(d.path, req.Name)), err)
	}
	return d.fs.dirNode(append(slices.Clip(d.path), req.Name)), nil
}

// Remove deletes a message (rm) or an empty mailbox (rmdir).
func (d *dir) Remove(ctx context.Context, req *fuse.RemoveRequest) error {
	if d.fs.readOnly {
		return syscall.EROFS
	}
	ctx, cancel := d.fs.request(ctx)
	defer cancel()
	op := "rm " + joinPath(append(d.path, req.Name))
	if req.Dir {
		return d.fs.errno(op, d.removeMailbox(ctx, req.Name))
	}
	self, _, err := d.folder(ctx)
	if err != nil {
		return d.fs.errno(op, err)
	}
	uid, ok := messageUID(req.Name)
	if !ok || self == nil || !self.Selectable {
		return syscall.ENOENT
	}
	l, err := d.fs.store.Listing(ctx, self.Name)
	if err != nil {
		return d.fs.errno(op, err)
	}
	if _, found := l.Find(uid); !found {
		return syscall.ENOENT
	}
	err = d.fs.store.Expunge(ctx, self.Name, l.UIDValidity, uid)
	if errors.Is(err, cache.ErrNoUIDPlus) {
		d.fs.log.Error(op+" refused", "err", err)
		return syscall.EOPNOTSUPP
	}
	return d.fs.errno(op, err)
}

// removeMailbox deletes the mailbox named name in this directory, only
// when it holds no message and no other mailbox.
func (d *dir) removeMailbox(ctx context.Context, name string) error {
	child := d.fs.dirNode(append(slices.Clip(d.path), name))
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
