// Command hellofs is a trivial FUSE filesystem, one read-only file "hello",
// that the harness's own tests mount to prove FUSE mounting works here
// independently of imapfs.
//
//	hellofs MOUNTPOINT
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"bazil.org/fuse"
	"bazil.org/fuse/fs"
)

const greeting = "hello, world\n"

type root struct{}

var (
	_ fs.Node               = root{}
	_ fs.HandleReadDirAller = root{}
	_ fs.NodeStringLookuper = root{}
)

func (root) Attr(_ context.Context, a *fuse.Attr) error {
	a.Inode = 1
	a.Mode = os.ModeDir | 0o555
	return nil
}

func (root) Lookup(_ context.Context, name string) (fs.Node, error) {
	if name == "hello" {
		return hello{}, nil
	}
	return nil, syscall.ENOENT
}

func (root) ReadDirAll(context.Context) ([]fuse.Dirent, error) {
	return []fuse.Dirent{{Inode: 2, Name: "hello", Type: fuse.DT_File}}, nil
}

type hello struct{}

var (
	_ fs.Node            = hello{}
	_ fs.HandleReadAller = hello{}
)

func (hello) Attr(_ context.Context, a *fuse.Attr) error {
	a.Inode = 2
	a.Mode = 0o444
	a.Size = uint64(len(greeting))
	return nil
}

func (hello) ReadAll(context.Context) ([]byte, error) { return []byte(greeting), nil }

type filesystem struct{}

func (filesystem) Root() (fs.Node, error) { return root{}, nil }

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: hellofs MOUNTPOINT")
		os.Exit(2)
	}
	mountpoint := os.Args[1]
	c, err := fuse.Mount(mountpoint, fuse.FSName("hellofs"), fuse.Subtype("hellofs"), fuse.ReadOnly())
	if err != nil {
		fmt.Fprintln(os.Stderr, "hellofs:", err)
		os.Exit(1)
	}
	defer c.Close()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-signals
		fuse.Unmount(mountpoint)
	}()
	if err := fs.Serve(c, filesystem{}); err != nil {
		fmt.Fprintln(os.Stderr, "hellofs:", err)
		os.Exit(1)
	}
}
