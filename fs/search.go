package fs

import (
	"context"
	"errors"
	"syscall"

	"bazil.org/fuse"
	bfs "bazil.org/fuse/fs"

	"imapfs/imapclient"
)

// Server-side search as directories: in a mailbox, ".search/<criteria>"
// lists the messages matching UID SEARCH <criteria> (CHARSET UTF-8 when
// the criteria are not ASCII) as the same <UID>.eml files. ".search" is
// not listed by readdir, so find, rsync and grep -r never walk into it; a
// real mailbox named ".search" is shown as "%2Esearch".
const searchDirName = ".search"

// searchRoot is a mailbox's ".search".
type searchRoot struct {
	fs      *FS
	mailbox string
	path    []string // the mailbox directory's path, for inodes
}

var (
	_ bfs.Node                = (*searchRoot)(nil)
	_ bfs.NodeRequestLookuper = (*searchRoot)(nil)
	_ bfs.HandleReadDirAller  = (*searchRoot)(nil)
	_ bfs.Node                = (*searchResult)(nil)
	_ bfs.NodeRequestLookuper = (*searchResult)(nil)
	_ bfs.HandleReadDirAller  = (*searchResult)(nil)
)

func (r *searchRoot) Attr(ctx context.Context, a *fuse.Attr) error {
	r.fs.attrDefaults(a)
	a.Inode = inode(append([]string{"search"}, r.path...)...)
	a.Mode = r.fs.dirMode() &^ 0o222
	a.Nlink = 2
	return nil
}

// ReadDirAll lists nothing: the searches are named by whoever looks.
func (r *searchRoot) ReadDirAll(ctx context.Context) ([]fuse.Dirent, error) { return nil, nil }

// Lookup runs the search named: invalid criteria are EINVAL, with the
// reason in the log.
func (r *searchRoot) Lookup(ctx context.Context, req *fuse.LookupRequest, resp *fuse.LookupResponse) (bfs.Node, error) {
	r.fs.answerLookup(resp)
	name := req.Name
	criteria, err := imapclient.ParseSearchCriteria(name)
	if err != nil {
		r.fs.log.Warn("invalid search criteria", "mailbox", r.mailbox, "criteria", name, "err", err)
		return nil, syscall.EINVAL
	}
	ctx, cancel := r.fs.request(ctx)
	defer cancel()
	uids, uidValidity, err := r.fs.store.Search(ctx, r.mailbox, criteria)
	var status *imapclient.StatusError
	if errors.As(err, &status) {
		// The server found the criteria wrong (BAD, or a charset it lacks).
		r.fs.log.Warn("the server refused the search", "mailbox", r.mailbox, "criteria", name, "err", err)
		return nil, syscall.EINVAL
	}
	if err != nil {
		return nil, r.fs.errno("search "+r.mailbox+" "+name, err)
	}
	return &searchResult{root: r, name: name, uids: uids, uidValidity: uidValidity}, nil
}

// searchResult is one search's directory: the matching messages.
type searchResult struct {
	root        *searchRoot
	name        string
	uids        []uint32
	uidValidity uint32
}

func (s *searchResult) Attr(ctx context.Context, a *fuse.Attr) error {
	s.root.fs.attrDefaults(a)
	a.Inode = inode(append(append([]string{"search"}, s.root.path...), s.name)...)
	a.Mode = s.root.fs.dirMode() &^ 0o222
	a.Nlink = 2
	return nil
}

func (s *searchResult) ReadDirAll(ctx context.Context) ([]fuse.Dirent, error) {
	out := make([]fuse.Dirent, 0, len(s.uids))
	for _, uid := range s.uids {
		out = append(out, fuse.Dirent{Name: messageName(uid), Type: fuse.DT_File,
			Inode: messageInode(s.root.mailbox, s.uidValidity, uid)})
	}
	return out, nil
}

// Lookup gives the message's own node, the same file as in the mailbox.
func (s *searchResult) Lookup(ctx context.Context, req *fuse.LookupRequest, resp *fuse.LookupResponse) (bfs.Node, error) {
	s.root.fs.answerLookup(resp)
	name := req.Name
	uid, ok := messageUID(name)
	if !ok {
		return nil, syscall.ENOENT
	}
	found := false
	for _, u := range s.uids {
		found = found || u == uid
	}
	if !found {
		return nil, syscall.ENOENT
	}
	ctx, cancel := s.root.fs.request(ctx)
	defer cancel()
	l, err := s.root.fs.store.Listing(ctx, s.root.mailbox)
	if err != nil {
		return nil, s.root.fs.errno("lookup "+name, err)
	}
	m, ok := l.Find(uid)
	if !ok || l.UIDValidity != s.uidValidity {
		return nil, syscall.ENOENT
	}
	return s.root.fs.fileNode(s.root.mailbox, l.UIDValidity, m), nil
}
