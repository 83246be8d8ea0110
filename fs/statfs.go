package fs

import (
	"context"
	"strings"

	"bazil.org/fuse"
	bfs "bazil.org/fuse/fs"
)

var _ bfs.FSStatfser = (*FS)(nil)

// unknownSize is the capacity df shows for an account without a quota:
// 1 PiB, so that no tool refuses to copy for want of space.
const unknownSize = 1 << 40 // in 1 KiB blocks

// Statfs reports the quota of INBOX's quota root: df shows the account's
// real size (STORAGE, in KiB), use and room, and the MESSAGE limit as
// files.
func (f *FS) Statfs(ctx context.Context, req *fuse.StatfsRequest, resp *fuse.StatfsResponse) error {
	ctx, cancel := f.request(ctx)
	defer cancel()
	resp.Bsize, resp.Frsize, resp.Namelen = 1024, 1024, 255
	resp.Blocks, resp.Bfree, resp.Bavail = unknownSize, unknownSize, unknownSize
	resp.Files, resp.Ffree = unknownSize, unknownSize
	resources, err := f.store.Quota(ctx)
	if err != nil {
		return f.errno("statfs", err)
	}
	for _, r := range resources {
		free := uint64(0)
		if r.Limit > r.Usage {
			free = r.Limit - r.Usage
		}
		switch strings.ToUpper(r.Name) {
		case "STORAGE":
			resp.Blocks, resp.Bfree, resp.Bavail = r.Limit, free, free
		case "MESSAGE":
			resp.Files, resp.Ffree = r.Limit, free
		}
	}
	return nil
}
