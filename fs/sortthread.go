package fs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"bazil.org/fuse"
	bfs "bazil.org/fuse/fs"

	"imapfs/imapclient"
)

// Server-side SORT and THREAD as directories, beside ".search":
//   - ".sort/<keys>" (e.g. "REVERSE DATE", "FROM SUBJECT") lists the
//     mailbox's messages in that order as NNNNNN-<UID>.eml, names a plain
//     ls sorts the same way;
//   - ".thread" lists the server's THREAD algorithms (ORDEREDSUBJECT,
//     REFERENCES, REFS); ".thread/<algorithm>" has a directory per
//     thread, NNNNNN-<UID of its first message>, holding the thread's
//     messages in thread order, named the same way.
//
// Both exist only where the server has the extension and are never listed
// in the mailbox. Unknown sort keys are EINVAL; an algorithm the server
// does not offer is absent.
const (
	sortDirName   = ".sort"
	threadDirName = ".thread"
)

// orderedDir is a virtual directory of messages in a given order, or of
// such directories (a thread listing).
type orderedDir struct {
	fs          *FS
	mailbox     string
	uidValidity uint32
	path        []string      // what its inode number is made of
	uids        []uint32      // messages, in order
	subdirs     []*orderedDir // threads, in order, for a .thread listing
	names       []string      // the subdirectories' names
	// lookup, for the roots .sort and .thread, makes the directory for a name.
	lookup func(ctx context.Context, name string) (bfs.Node, error)
	// listed, for a root, are the names ls shows: .thread's algorithms.
	listed []string
}

var (
	_ bfs.Node                = (*orderedDir)(nil)
	_ bfs.NodeRequestLookuper = (*orderedDir)(nil)
	_ bfs.HandleReadDirAller  = (*orderedDir)(nil)
)

func (o *orderedDir) Attr(ctx context.Context, a *fuse.Attr) error {
	o.fs.attrDefaults(a)
	a.Inode = inode(o.path...)
	a.Mode = o.fs.dirMode() &^ 0o222
	a.Nlink = 2
	return nil
}

// childPath is the inode path of the entry name in this directory.
func (o *orderedDir) childPath(name string) []string {
	return append(slices.Clip(o.path), name)
}

// orderedName is the name of the i-th message: its position first, so
// that ls shows the server's order.
func orderedName(i int, uid uint32) string { return fmt.Sprintf("%06d-%d.eml", i+1, uid) }

func (o *orderedDir) ReadDirAll(ctx context.Context) ([]fuse.Dirent, error) {
	var out []fuse.Dirent
	for i, uid := range o.uids {
		out = append(out, fuse.Dirent{Name: orderedName(i, uid), Type: fuse.DT_File, Inode: messageInode(o.mailbox, o.uidValidity, uid)})
	}
	for i, sub := range o.subdirs {
		out = append(out, fuse.Dirent{Name: o.names[i], Type: fuse.DT_Dir, Inode: inode(sub.path...)})
	}
	for _, name := range o.listed {
		out = append(out, fuse.Dirent{Name: name, Type: fuse.DT_Dir, Inode: inode(o.childPath(name)...)})
	}
	return out, nil
}

func (o *orderedDir) Lookup(ctx context.Context, req *fuse.LookupRequest, resp *fuse.LookupResponse) (bfs.Node, error) {
	o.fs.answerLookup(resp)
	name := req.Name
	if o.lookup != nil {
		return o.lookup(ctx, name)
	}
	for i, sub := range o.subdirs {
		if o.names[i] == name {
			return sub, nil
		}
	}
	pos, _, ok := strings.Cut(name, "-")
	i, err := strconv.Atoi(pos)
	if !ok || err != nil || i < 1 || i > len(o.uids) || orderedName(i-1, o.uids[i-1]) != name {
		return nil, syscall.ENOENT
	}
	ctx, cancel := o.fs.request(ctx)
	defer cancel()
	l, err := o.fs.store.Listing(ctx, o.mailbox)
	if err != nil {
		return nil, o.fs.errno("lookup "+name, err)
	}
	m, found := l.Find(o.uids[i-1])
	if !found || l.UIDValidity != o.uidValidity {
		return nil, syscall.ENOENT
	}
	return o.fs.fileNode(o.mailbox, l.UIDValidity, m), nil
}

// sortRoot is a mailbox's ".sort".
func (d *dir) sortRoot(mailbox string) *orderedDir {
	root := &orderedDir{fs: d.fs, mailbox: mailbox, path: append([]string{"sort"}, d.p()...)}
	root.lookup = func(ctx context.Context, name string) (bfs.Node, error) {
		keys, err := parseSortKeys(name)
		if err != nil {
			d.fs.log.Warn("invalid sort keys", "mailbox", mailbox, "keys", name, "err", err)
			return nil, syscall.EINVAL
		}
		ctx, cancel := d.fs.request(ctx)
		defer cancel()
		uids, uidValidity, err := d.fs.store.Sort(ctx, mailbox, keys)
		if err != nil {
			return nil, d.orderedErrno("sort", name, err)
		}
		return &orderedDir{fs: d.fs, mailbox: mailbox, uidValidity: uidValidity, uids: uids, path: root.childPath(name)}, nil
	}
	return root
}

// threadAlgorithms are the THREAD algorithms the server offers, sorted;
// none without THREAD.
func threadAlgorithms(caps []string) []string {
	var algorithms []string
	for _, c := range caps {
		if alg, ok := strings.CutPrefix(strings.ToUpper(c), "THREAD="); ok {
			algorithms = append(algorithms, alg)
		}
	}
	slices.Sort(algorithms)
	return slices.Compact(algorithms)
}

// threadRoot is a mailbox's ".thread", listing the algorithms.
func (d *dir) threadRoot(mailbox string, algorithms []string) *orderedDir {
	root := &orderedDir{fs: d.fs, mailbox: mailbox, path: append([]string{"thread"}, d.p()...), listed: algorithms}
	root.lookup = func(ctx context.Context, name string) (bfs.Node, error) {
		algorithm := strings.ToUpper(name)
		if !slices.Contains(algorithms, algorithm) {
			return nil, syscall.ENOENT
		}
		ctx, cancel := d.fs.request(ctx)
		defer cancel()
		threads, uidValidity, err := d.fs.store.Thread(ctx, mailbox, algorithm)
		if err != nil {
			return nil, d.orderedErrno("thread", name, err)
		}
		listing := &orderedDir{fs: d.fs, mailbox: mailbox, uidValidity: uidValidity, path: root.childPath(name)}
		for i, t := range threads {
			var uids []uint32
			flattenThread(t, &uids)
			if len(uids) == 0 {
				continue
			}
			threadName := fmt.Sprintf("%06d-%d", i+1, uids[0])
			listing.names = append(listing.names, threadName)
			listing.subdirs = append(listing.subdirs, &orderedDir{fs: d.fs, mailbox: mailbox, uidValidity: uidValidity, uids: uids,
				path: listing.childPath(threadName)})
		}
		return listing, nil
	}
	return root
}

// flattenThread lists a thread's messages, parents before replies.
func flattenThread(t imapclient.Thread, uids *[]uint32) {
	if t.Num != 0 {
		*uids = append(*uids, t.Num)
	}
	for _, c := range t.Children {
		flattenThread(c, uids)
	}
}

// orderedErrno: a refusal of the server is the criteria's fault (EINVAL);
// a missing extension is EOPNOTSUPP.
func (d *dir) orderedErrno(what, name string, err error) error {
	var status *imapclient.StatusError
	if errors.As(err, &status) {
		d.fs.log.Warn("the server refused the "+what, "criteria", name, "err", err)
		return syscall.EINVAL
	}
	return d.fs.errno(what+" "+name, err)
}

// parseSortKeys reads "REVERSE DATE SUBJECT" into sort criteria.
func parseSortKeys(text string) ([]imapclient.SortCriterion, error) {
	var keys []imapclient.SortCriterion
	reverse := false
	for _, word := range strings.Fields(strings.ToUpper(text)) {
		switch word {
		case "REVERSE":
			reverse = true
			continue
		case imapclient.SortArrival, imapclient.SortCc, imapclient.SortDate, imapclient.SortFrom,
			imapclient.SortSize, imapclient.SortSubject, imapclient.SortTo, imapclient.SortDisplayFrom, imapclient.SortDisplayTo:
			keys = append(keys, imapclient.SortCriterion{Key: word, Reverse: reverse})
			reverse = false
		default:
			return nil, fmt.Errorf("unknown sort key %q", word)
		}
	}
	if len(keys) == 0 || reverse {
		return nil, errors.New("no sort key")
	}
	return keys, nil
}
