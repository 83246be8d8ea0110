// Command floorfs is the FUSE floor of the read-path benchmark
// (test/bench/readpath): the fastest read-only filesystem bazil.org/fuse
// allows, serving from memory a tree shaped like an imapfs mount,
// MOUNTPOINT/INBOX/<UID>.eml, with the sizes, mtimes and bytes of the
// messages named in MANIFEST. Whatever imapfs costs above this is imapfs's
// own; this is what the kernel and the library cost.
//
//	floorfs MANIFEST MOUNTPOINT
//
// MANIFEST has one line per message: UID, mtime (Unix seconds) and the path
// of a file holding its exact bytes, separated by tabs. Every body is read
// into memory before mounting.
//
// The settings are the best the library offers for a read-only tree:
// attributes and entries valid for an hour, 128 KiB readahead, async
// reads, the page cache kept across opens, reads answered by slicing the
// body (no copy), FLUSH answered with ENOSYS so the kernel stops sending
// it. At unmount it prints the FUSE requests it served, by kind.
package main

import (
	"bufio"
	"context"
	"fmt"
	"hash/fnv"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"bazil.org/fuse"
	"bazil.org/fuse/fs"
)

const valid = time.Hour

type message struct {
	name  string
	inode uint64
	mtime time.Time
	body  []byte
}

type root struct{ inbox *dir }

type dir struct {
	inode   uint64
	byName  map[string]*message
	dirents []fuse.Dirent
}

var (
	_ fs.Node               = (*root)(nil)
	_ fs.NodeStringLookuper = (*root)(nil)
	_ fs.HandleReadDirAller = (*root)(nil)
	_ fs.Node               = (*dir)(nil)
	_ fs.NodeStringLookuper = (*dir)(nil)
	_ fs.HandleReadDirAller = (*dir)(nil)
	_ fs.Node               = (*message)(nil)
	_ fs.NodeOpener         = (*message)(nil)
	_ fs.HandleReader       = (*message)(nil)
	_ fs.HandleFlusher      = (*message)(nil)
)

func dirAttr(a *fuse.Attr, inode uint64) {
	a.Inode = inode
	a.Mode = os.ModeDir | 0o555
	a.Nlink = 2
	a.Valid = valid
}

func (r *root) Attr(_ context.Context, a *fuse.Attr) error { dirAttr(a, 1); return nil }

func (r *root) Lookup(_ context.Context, name string) (fs.Node, error) {
	if name == "INBOX" {
		return r.inbox, nil
	}
	return nil, syscall.ENOENT
}

func (r *root) ReadDirAll(context.Context) ([]fuse.Dirent, error) {
	return []fuse.Dirent{{Inode: r.inbox.inode, Name: "INBOX", Type: fuse.DT_Dir}}, nil
}

func (d *dir) Attr(_ context.Context, a *fuse.Attr) error { dirAttr(a, d.inode); return nil }

func (d *dir) Lookup(_ context.Context, name string) (fs.Node, error) {
	if m := d.byName[name]; m != nil {
		return m, nil
	}
	return nil, syscall.ENOENT
}

func (d *dir) ReadDirAll(context.Context) ([]fuse.Dirent, error) { return d.dirents, nil }

func (m *message) Attr(_ context.Context, a *fuse.Attr) error {
	a.Inode = m.inode
	a.Mode = 0o444
	a.Nlink = 1
	a.Size = uint64(len(m.body))
	a.Blocks = (a.Size + 511) / 512
	a.Mtime, a.Ctime, a.Atime = m.mtime, m.mtime, m.mtime
	a.Valid = valid
	return nil
}

func (m *message) Open(_ context.Context, _ *fuse.OpenRequest, resp *fuse.OpenResponse) (fs.Handle, error) {
	resp.Flags |= fuse.OpenKeepCache
	return m, nil
}

func (m *message) Read(_ context.Context, req *fuse.ReadRequest, resp *fuse.ReadResponse) error {
	if req.Offset >= int64(len(m.body)) {
		return nil
	}
	end := min(req.Offset+int64(req.Size), int64(len(m.body)))
	resp.Data = m.body[req.Offset:end]
	return nil
}

// Flush answered with ENOSYS once makes the kernel stop sending FLUSH.
func (m *message) Flush(context.Context, *fuse.FlushRequest) error {
	return fuse.ToErrno(syscall.ENOSYS)
}

type filesystem struct{ root *root }

func (f filesystem) Root() (fs.Node, error) { return f.root, nil }

func inodeOf(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64() | 1<<63
}

func load(manifest string) (*dir, error) {
	f, err := os.Open(manifest)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d := &dir{inode: inodeOf("INBOX"), byName: map[string]*message{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 3 {
			return nil, fmt.Errorf("%s: bad line %q", manifest, sc.Text())
		}
		uid, err1 := strconv.ParseUint(fields[0], 10, 32)
		mtime, err2 := strconv.ParseInt(fields[1], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s: bad line %q", manifest, sc.Text())
		}
		body, err := os.ReadFile(fields[2])
		if err != nil {
			return nil, err
		}
		name := strconv.FormatUint(uid, 10) + ".eml"
		m := &message{name: name, inode: inodeOf("INBOX/" + name), mtime: time.Unix(mtime, 0), body: body}
		d.byName[name] = m
		d.dirents = append(d.dirents, fuse.Dirent{Inode: m.inode, Name: name, Type: fuse.DT_File})
	}
	return d, sc.Err()
}

// counts counts the requests served, by kind.
type counts struct {
	mu sync.Mutex
	n  map[string]int64
}

func (c *counts) count(req fuse.Request) {
	kind := strings.TrimSuffix(strings.TrimPrefix(fmt.Sprintf("%T", req), "*fuse."), "Request")
	c.mu.Lock()
	c.n[kind]++
	c.mu.Unlock()
}

func (c *counts) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c.n)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, c.n[k]))
	}
	return strings.Join(parts, " ")
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: floorfs MANIFEST MOUNTPOINT")
		os.Exit(2)
	}
	inbox, err := load(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "floorfs:", err)
		os.Exit(1)
	}
	mountpoint := os.Args[2]
	c, err := fuse.Mount(mountpoint, fuse.FSName("floorfs"), fuse.Subtype("floorfs"), fuse.ReadOnly(),
		fuse.MaxReadahead(128<<10), fuse.AsyncRead())
	if err != nil {
		fmt.Fprintln(os.Stderr, "floorfs:", err)
		os.Exit(1)
	}
	defer c.Close()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-signals
		fuse.Unmount(mountpoint)
	}()
	n := &counts{n: map[string]int64{}}
	cfg := &fs.Config{WithContext: func(ctx context.Context, req fuse.Request) context.Context {
		n.count(req)
		return ctx
	}}
	err = fs.New(c, cfg).Serve(filesystem{root: &root{inbox: inbox}})
	fmt.Printf("floorfs: unmounted fuse_requests=%q\n", n.String())
	if err != nil {
		fmt.Fprintln(os.Stderr, "floorfs:", err)
		os.Exit(1)
	}
}
