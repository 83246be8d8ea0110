package fs

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"bazil.org/fuse"
	bfs "bazil.org/fuse/fs"

	"imapfs/cache"
)

// dir is a directory: the root (path empty), or a mailbox, or a level of
// the hierarchy that holds only other mailboxes (\Noselect or implied).
type dir struct {
	fs   *FS
	path []string // file-name components from the root; read through p()
}

var (
	_ bfs.Node                = (*dir)(nil)
	_ bfs.NodeRequestLookuper = (*dir)(nil)
	_ bfs.HandleReadDirAller  = (*dir)(nil)
)

// folder finds this directory's mailbox among the account's, and its
// direct children.
func (d *dir) folder(ctx context.Context) (self *cache.Folder, children []string, err error) {
	folders, err := d.fs.store.Folders(ctx)
	if err != nil {
		return nil, nil, err
	}
	e, found := d.fs.folderTree(folders)[pathKey(d.p())]
	if !found {
		return nil, nil, syscall.ENOENT
	}
	if e.self >= 0 {
		self = &folders[e.self]
	}
	return self, slices.Clone(e.children), nil
}

// Attr answers from the folder list and the state of every mailbox that
// came with it (cache.Store.Folders), so stat of many directories costs
// no round trip each. A directory's times change whenever its listing
// does, and only then (see cache.Store.DirTime): the listing is summed
// up by its subdirectories' names and, for a mailbox, UIDVALIDITY,
// UIDNEXT and MESSAGES, which every arrival or expunge moves.
func (d *dir) Attr(ctx context.Context, a *fuse.Attr) error {
	d.fs.attrDefaults(a)
	a.Inode = 1
	if len(d.p()) > 0 {
		a.Inode = inode(append([]string{"dir"}, d.p()...)...)
	}
	a.Mode = d.fs.dirMode()
	a.Nlink = 2
	a.Valid = d.fs.attrValid(dirValid)
	ctx, cancel := d.fs.request(ctx)
	defer cancel()
	self, children, err := d.folder(ctx)
	switch {
	case err == nil:
		a.Mtime = d.fs.store.DirTime(joinPath(d.p()), listingPrint(self, children))
	case len(d.p()) == 0:
		// The mount's root stays there while the server does not answer
		// (its user.imapfs.stats is read then), with the time last shown.
		a.Mtime = d.fs.store.ShownDirTime("")
	default:
		return d.fs.errno("stat "+joinPath(d.p()), err)
	}
	a.Ctime, a.Atime = a.Mtime, a.Mtime
	return nil
}

// listingPrint sums up what a directory lists as far as the folder list
// tells: it differs whenever an entry comes or goes.
func listingPrint(self *cache.Folder, children []string) string {
	var b strings.Builder
	for _, c := range slices.Sorted(slices.Values(children)) {
		b.WriteString(c)
		b.WriteByte(0)
	}
	if self != nil && self.Status != nil {
		st := self.Status
		b.WriteString(strconv.FormatUint(uint64(st.UIDValidity), 10) + " " +
			strconv.FormatUint(uint64(st.UIDNext), 10) + " " + strconv.FormatUint(uint64(st.Messages), 10))
	}
	return b.String()
}

func (d *dir) Lookup(ctx context.Context, req *fuse.LookupRequest, resp *fuse.LookupResponse) (bfs.Node, error) {
	d.fs.answerLookup(resp)
	name := req.Name
	ctx, cancel := d.fs.request(ctx)
	defer cancel()
	if p := d.fs.pendingFile(d.pendingKey(name)); p != nil {
		return p, nil
	}
	self, children, err := d.folder(ctx)
	if err != nil {
		return nil, d.fs.errno("lookup "+joinPath(append(d.p(), name)), err)
	}
	if slices.Contains(children, name) {
		return d.fs.dirNode(append(slices.Clip(d.p()), name)), nil
	}
	if self != nil && self.Selectable {
		switch name {
		case searchDirName:
			return &searchRoot{fs: d.fs, mailbox: self.Name, path: d.p()}, nil
		case sortDirName:
			ok, err := d.fs.store.Has(ctx, "SORT")
			if err != nil {
				return nil, d.fs.errno("lookup "+joinPath(append(d.p(), name)), err)
			}
			if !ok {
				return nil, syscall.ENOENT // absent where the server lacks it
			}
			return d.sortRoot(self.Name), nil
		case threadDirName:
			caps, err := d.fs.store.Capabilities(ctx)
			if err != nil {
				return nil, d.fs.errno("lookup "+joinPath(append(d.p(), name)), err)
			}
			algorithms := threadAlgorithms(caps)
			if len(algorithms) == 0 {
				return nil, syscall.ENOENT
			}
			return d.threadRoot(self.Name, algorithms), nil
		}
	}
	uid, ok := messageUID(name)
	if !ok || self == nil || !self.Selectable {
		return nil, syscall.ENOENT
	}
	// A lookup while walking a mailbox uses the listing at hand; only a
	// name it does not know makes us ask the server. A name it knows is
	// checked afterwards (revalidate), so that one another client
	// expunged does not live on in the kernel for as long as nothing
	// lists the mailbox.
	l := d.fs.store.Cached(self.Name)
	m, found := cache.Message{}, false
	if l != nil {
		m, found = l.Find(uid)
	}
	if found {
		d.fs.revalidate(d, l)
	} else {
		if l, err = d.fs.store.Listing(ctx, self.Name); err != nil {
			return nil, d.fs.errno("lookup "+joinPath(append(d.p(), name)), err)
		}
		if m, found = l.Find(uid); !found {
			return nil, syscall.ENOENT
		}
	}
	return d.entered(d.fs.fileNode(self.Name, l.UIDValidity, m)), nil
}

func (d *dir) ReadDirAll(ctx context.Context) ([]fuse.Dirent, error) {
	d.fs.walkedInto(d.p())
	ctx, cancel := d.fs.request(ctx)
	defer cancel()
	self, children, err := d.folder(ctx)
	if err != nil {
		return nil, d.fs.errno("readdir "+joinPath(d.p()), err)
	}
	var l *cache.Listing
	if self != nil && self.Selectable {
		if l, err = d.fs.store.Listing(ctx, self.Name); err != nil {
			return nil, d.fs.errno("readdir "+joinPath(d.p()), err)
		}
	}
	var out []fuse.Dirent
	if l != nil {
		// At once: a mailbox of 100,000 messages would otherwise leave
		// megabytes of grown and copied entries behind.
		out = make([]fuse.Dirent, 0, len(children)+len(l.Messages))
	}
	for _, c := range children {
		out = append(out, fuse.Dirent{Name: c, Type: fuse.DT_Dir, Inode: inode(append(append([]string{"dir"}, d.p()...), c)...)})
	}
	if l != nil {
		for _, m := range l.Messages {
			out = append(out, fuse.Dirent{Name: messageName(m.UID), Type: fuse.DT_File, Inode: messageInode(self.Name, l.UIDValidity, m.UID)})
		}
		go d.fs.forgetExpunged(d, l) // not from inside the handler
	}
	for _, p := range d.fs.pendingIn(d) {
		p.mu.Lock()
		out = append(out, fuse.Dirent{Name: p.name, Type: fuse.DT_File, Inode: p.inode})
		p.mu.Unlock()
	}
	if len(out) >= bigDirectory {
		d.fs.returnMemorySoon()
	}
	return out, nil
}

// fileNames maps a mailbox's name components to file names; ok is false
// when one of them has none (see componentToName).
func fileNames(path []string) (names []string, ok bool) {
	names = make([]string, len(path))
	for i, p := range path {
		if names[i], ok = componentToName(p); !ok {
			return nil, false
		}
	}
	return names, true
}

func hasPrefix(names, prefix []string) bool {
	return len(names) >= len(prefix) && slices.Equal(names[:len(prefix)], prefix)
}

// messageName is a message's file name: its UID and ".eml".
func messageName(uid uint32) string { return strconv.FormatUint(uint64(uid), 10) + ".eml" }

// messageUID parses a message file name; only the canonical spelling
// (no leading zeros, no sign) names a message.
func messageUID(name string) (uint32, bool) {
	digits, ok := strings.CutSuffix(name, ".eml")
	if !ok || digits == "" || digits[0] == '0' {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 32)
	return uint32(n), err == nil && n > 0
}

// messageInode is a message's inode number. It grows with the UID, so
// that tools that sort by inode (cp -r) read a mailbox in UID order, as
// it is listed and prefetched: see mailboxInodes.
func messageInode(mailbox string, uidValidity, uid uint32) uint64 {
	return mailboxInodes(mailbox, uidValidity) | uint64(uid)
}
