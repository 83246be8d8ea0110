package fs

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"bazil.org/fuse"
	bfs "bazil.org/fuse/fs"

	"imapfs/imapclient"
)

// Extended attributes of directories: the root tells the server's
// capabilities and namespaces, a mailbox its STATUS.
const (
	xattrCapability  = "user.imap.capability"
	xattrNamespace   = "user.imap.namespace"
	xattrMessages    = "user.imap.messages"
	xattrUnseen      = "user.imap.unseen"
	xattrRecent      = "user.imap.recent"
	xattrUIDNext     = "user.imap.uidnext"
	xattrUIDValidity = "user.imap.uidvalidity"
)

// statusXattrs maps each STATUS attribute to its item.
var statusXattrs = map[string]string{
	xattrMessages:    imapclient.StatusMessages,
	xattrUnseen:      imapclient.StatusUnseen,
	xattrRecent:      imapclient.StatusRecent,
	xattrUIDNext:     imapclient.StatusUIDNext,
	xattrUIDValidity: imapclient.StatusUIDValidity,
}

var (
	_ bfs.NodeGetxattrer  = (*dir)(nil)
	_ bfs.NodeListxattrer = (*dir)(nil)
)

func (d *dir) Listxattr(ctx context.Context, req *fuse.ListxattrRequest, resp *fuse.ListxattrResponse) error {
	if len(d.p()) == 0 {
		resp.Append(xattrCapability, xattrNamespace)
		return nil
	}
	ctx, cancel := d.fs.request(ctx)
	defer cancel()
	self, _, err := d.folder(ctx)
	if err != nil {
		return d.fs.errno("listxattr "+joinPath(d.p()), err)
	}
	if self != nil && self.Selectable {
		resp.Append(slices.Sorted(maps.Keys(statusXattrs))...)
	}
	return nil
}

func (d *dir) Getxattr(ctx context.Context, req *fuse.GetxattrRequest, resp *fuse.GetxattrResponse) error {
	ctx, cancel := d.fs.request(ctx)
	defer cancel()
	op := "getxattr " + req.Name + " " + joinPath(d.p())
	if len(d.p()) == 0 {
		switch req.Name {
		case xattrCapability:
			caps, err := d.fs.store.Capabilities(ctx)
			if err != nil {
				return d.fs.errno(op, err)
			}
			slices.Sort(caps)
			resp.Xattr = []byte(strings.Join(caps, " "))
			return nil
		case xattrNamespace:
			ns, err := d.fs.store.Namespaces(ctx)
			if err != nil {
				return d.fs.errno(op, err)
			}
			resp.Xattr = []byte(formatNamespaces(ns))
			return nil
		}
		return fuse.ErrNoXattr
	}
	item, ok := statusXattrs[req.Name]
	if !ok {
		return fuse.ErrNoXattr
	}
	self, _, err := d.folder(ctx)
	if err != nil {
		return d.fs.errno(op, err)
	}
	if self == nil || !self.Selectable {
		return fuse.ErrNoXattr
	}
	st, err := d.fs.store.Status(ctx, self.Name, item)
	if err != nil {
		return d.fs.errno(op, err)
	}
	var n uint64
	switch item {
	case imapclient.StatusMessages:
		n = uint64(st.Messages)
	case imapclient.StatusUnseen:
		n = uint64(st.Unseen)
	case imapclient.StatusRecent:
		n = uint64(st.Recent)
	case imapclient.StatusUIDNext:
		n = uint64(st.UIDNext)
	case imapclient.StatusUIDValidity:
		n = uint64(st.UIDValidity)
	}
	resp.Xattr = []byte(strconv.FormatUint(n, 10))
	return nil
}

// formatNamespaces writes one namespace a line: its kind (personal, other,
// shared), its prefix and its delimiter, quoted.
func formatNamespaces(ns *imapclient.Namespaces) string {
	var b strings.Builder
	for _, group := range []struct {
		kind string
		list []imapclient.Namespace
	}{{"personal", ns.Personal}, {"other", ns.OtherUsers}, {"shared", ns.Shared}} {
		for _, n := range group.list {
			fmt.Fprintf(&b, "%s %q %q\n", group.kind, n.Prefix, n.Delimiter)
		}
	}
	return b.String()
}
