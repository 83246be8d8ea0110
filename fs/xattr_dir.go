package fs

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"bazil.org/fuse"
	bfs "bazil.org/fuse/fs"

	"imapfs/cache"
	"imapfs/imapclient"
	"imapfs/imapclient/imapwire"
)

// Extended attributes of directories: the root tells the server's
// capabilities and namespaces, a mailbox its STATUS.
const (
	xattrCapability  = "user.imap.capability"
	xattrNamespace   = "user.imap.namespace"
	xattrStats       = "user.imapfs.stats" // imapfs's own: what the mount did so far, key=value lines
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

// Mailbox attributes beyond STATUS (DESIGN's contract); the prefixes
// take an identifier or a metadata entry after them.
const (
	xattrACL        = "user.imap.acl"
	xattrACLPrefix  = "user.imap.acl."
	xattrMyRights   = "user.imap.myrights"
	xattrQuota      = "user.imap.quota"
	xattrSubscribed = "user.imap.subscribed"
	xattrSpecialUse = "user.imap.specialuse"
	xattrMetaPrefix = "user.imap.metadata."
	// xattrSetQuotaPrefix, on the root, followed by a quota root's name,
	// sets that root's limits: "STORAGE 10240 MESSAGE 1000" (SETQUOTA);
	// removing it removes them. It is how an administrator sets quotas.
	xattrSetQuotaPrefix = "user.imap.quota."
)

// specialUses are the attributes RFC 6154 defines.
var specialUses = []string{imapclient.AttrAll, imapclient.AttrArchive, imapclient.AttrDrafts,
	imapclient.AttrFlagged, imapclient.AttrJunk, imapclient.AttrSent, imapclient.AttrTrash}

// mailboxAttrs describes what this directory's attributes stand on: its
// mailbox ("" for the root) and which extensions the server has.
type mailboxAttrs struct {
	root     bool
	folder   *cache.Folder
	acl      bool
	quota    bool
	metadata bool
}

func (d *dir) attrs(ctx context.Context) (*mailboxAttrs, error) {
	a := &mailboxAttrs{root: len(d.p()) == 0}
	if !a.root {
		self, _, err := d.folder(ctx)
		if err != nil {
			return nil, err
		}
		a.folder = self
	}
	caps, err := d.fs.store.Capabilities(ctx)
	if err != nil {
		return nil, err
	}
	has := func(name string) bool { return slices.Contains(caps, name) }
	a.acl, a.quota = has("ACL"), has("QUOTA")
	a.metadata, err = d.fs.store.HasMetadata(ctx, a.root)
	return a, err
}

// xattrMailbox is what every attribute request needs first: the
// directory's attributes and the server's name they are about.
func (d *dir) xattrMailbox(ctx context.Context) (a *mailboxAttrs, mailbox string, ok bool, err error) {
	if a, err = d.attrs(ctx); err != nil {
		return nil, "", false, err
	}
	mailbox, ok = a.mailbox()
	return a, mailbox, ok, nil
}

// mailbox is the server's name the attributes are about ("" for the
// server itself), and whether there is one.
func (a *mailboxAttrs) mailbox() (string, bool) {
	if a.root {
		return "", true
	}
	if a.folder == nil {
		return "", false
	}
	return a.folder.Name, true
}

func (d *dir) Listxattr(ctx context.Context, req *fuse.ListxattrRequest, resp *fuse.ListxattrResponse) error {
	ctx, cancel := d.fs.request(ctx)
	defer cancel()
	op := "listxattr " + joinPath(d.p())
	a, mailbox, ok, err := d.xattrMailbox(ctx)
	if err != nil {
		return d.fs.errno(op, err)
	}
	if !ok {
		return nil // a level of the hierarchy only
	}
	if a.root {
		resp.Append(xattrCapability, xattrNamespace)
		if d.fs.stats != nil {
			resp.Append(xattrStats)
		}
	} else {
		if a.folder.Selectable {
			resp.Append(slices.Sorted(maps.Keys(statusXattrs))...)
		}
		resp.Append(xattrSubscribed)
		if specialUse(a.folder) != "" {
			resp.Append(xattrSpecialUse)
		}
		if a.acl {
			resp.Append(xattrACL, xattrMyRights)
			acl, err := d.fs.store.ACL(ctx, mailbox)
			if err == nil { // without the right to read the ACL, only MYRIGHTS
				for _, e := range acl {
					resp.Append(xattrACLPrefix + e.Identifier)
				}
			}
		}
		if a.quota {
			resp.Append(xattrQuota)
		}
	}
	if a.metadata {
		entries, err := d.fs.store.Metadata(ctx, mailbox)
		if err != nil {
			return d.fs.errno(op, err)
		}
		for _, entry := range slices.Sorted(maps.Keys(entries)) {
			if !serverMaintained(entry) {
				resp.Append(xattrMetaPrefix + entry)
			}
		}
	}
	return nil
}

func (d *dir) Getxattr(ctx context.Context, req *fuse.GetxattrRequest, resp *fuse.GetxattrResponse) error {
	if otherNamespace(req.Name) {
		return syscall.EOPNOTSUPP
	}
	if req.Name == xattrStats && len(d.p()) == 0 && d.fs.stats != nil {
		// Before anything that asks the server: the statistics are
		// wanted most when it does not answer.
		resp.Xattr = []byte(d.fs.stats())
		return nil
	}
	ctx, cancel := d.fs.request(ctx)
	defer cancel()
	op := "getxattr " + req.Name + " " + joinPath(d.p())
	a, mailbox, ok, err := d.xattrMailbox(ctx)
	if err != nil {
		return d.fs.errno(op, err)
	}
	if !ok {
		return fuse.ErrNoXattr
	}
	value, err := d.getxattr(ctx, a, mailbox, req.Name)
	if err != nil {
		return d.fs.errno(op, err)
	}
	resp.Xattr = value
	return nil
}

// getxattr answers one attribute; fuse.ErrNoXattr when this directory
// and server do not have it.
func (d *dir) getxattr(ctx context.Context, a *mailboxAttrs, mailbox, name string) ([]byte, error) {
	switch {
	case a.root && name == xattrCapability:
		caps, err := d.fs.store.Capabilities(ctx)
		slices.Sort(caps)
		return []byte(strings.Join(caps, " ")), err
	case a.root && name == xattrNamespace:
		ns, err := d.fs.store.Namespaces(ctx)
		if err != nil {
			return nil, err
		}
		return []byte(formatNamespaces(ns)), nil
	case strings.HasPrefix(name, xattrMetaPrefix) && a.metadata:
		entries, err := d.fs.store.Metadata(ctx, mailbox)
		if err != nil {
			return nil, err
		}
		if v, ok := entries[strings.TrimPrefix(name, xattrMetaPrefix)]; ok {
			return v, nil
		}
		return nil, fuse.ErrNoXattr
	case a.root:
		return nil, fuse.ErrNoXattr
	case statusXattrs[name] != "" && a.folder.Selectable:
		return d.statusXattr(ctx, mailbox, statusXattrs[name])
	case name == xattrSubscribed:
		on, err := d.fs.store.Subscribed(ctx, mailbox)
		if on {
			return []byte("1"), err
		}
		return []byte("0"), err
	case name == xattrSpecialUse && specialUse(a.folder) != "":
		return []byte(specialUse(a.folder)), nil
	case name == xattrACL && a.acl:
		acl, err := d.fs.store.ACL(ctx, mailbox)
		var b strings.Builder
		for _, e := range acl {
			fmt.Fprintf(&b, "%s %s\n", e.Identifier, e.Rights)
		}
		return []byte(b.String()), err
	case strings.HasPrefix(name, xattrACLPrefix) && a.acl:
		acl, err := d.fs.store.ACL(ctx, mailbox)
		if err != nil {
			return nil, err
		}
		for _, e := range acl {
			if e.Identifier == strings.TrimPrefix(name, xattrACLPrefix) {
				return []byte(e.Rights), nil
			}
		}
		return nil, fuse.ErrNoXattr
	case name == xattrMyRights && a.acl:
		rights, err := d.fs.store.MyRights(ctx, mailbox)
		return []byte(rights), err
	case name == xattrQuota && a.quota:
		roots, err := d.fs.store.QuotaRoots(ctx, mailbox)
		var b strings.Builder
		for _, r := range roots {
			for _, res := range r.Resources {
				fmt.Fprintf(&b, "%s %s %d %d\n", r.Root, res.Name, res.Usage, res.Limit)
			}
		}
		return []byte(b.String()), err
	}
	return nil, fuse.ErrNoXattr
}

func (d *dir) statusXattr(ctx context.Context, mailbox, item string) ([]byte, error) {
	st, err := d.fs.store.Status(ctx, mailbox, item)
	if err != nil {
		return nil, err
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
	return []byte(strconv.FormatUint(n, 10)), nil
}

// serverMaintained tells metadata entries the server computes and refuses
// to have set (Cyrus's own, such as its size and unique ID). They are
// readable by name but not listed, so that a copy of a mailbox directory
// with its attributes (rsync -X, from a backup into a new mailbox) does
// not try to set them and fail.
func serverMaintained(entry string) bool {
	return strings.HasPrefix(entry, "/shared/vendor/cmu/cyrus-imapd/")
}

// parseLimits reads "RESOURCE LIMIT ..." pairs, e.g. "STORAGE 10240
// MESSAGE 1000".
func parseLimits(text string) (map[string]uint64, error) {
	fields := strings.Fields(text)
	if len(fields)%2 != 0 {
		return nil, fmt.Errorf("limits come in RESOURCE LIMIT pairs")
	}
	limits := map[string]uint64{}
	for i := 0; i < len(fields); i += 2 {
		n, err := strconv.ParseUint(fields[i+1], 10, 64)
		if err != nil || !imapwire.IsAtom(fields[i]) {
			return nil, fmt.Errorf("bad limit %q %q", fields[i], fields[i+1])
		}
		limits[strings.ToUpper(fields[i])] = n
	}
	return limits, nil
}

// readOnlyDirXattr tells the directory attributes that only report.
func readOnlyDirXattr(name string) bool {
	switch name {
	case xattrCapability, xattrNamespace, xattrStats, xattrACL, xattrMyRights, xattrQuota, xattrSpecialUse:
		return true
	}
	return statusXattrs[name] != ""
}

// specialUse is the folder's special use (\Sent, ...), "" if none.
func specialUse(f *cache.Folder) string {
	for _, attr := range f.Attributes {
		for _, use := range specialUses {
			if strings.EqualFold(attr, use) {
				return use
			}
		}
	}
	return ""
}

var (
	_ bfs.NodeSetxattrer    = (*dir)(nil)
	_ bfs.NodeRemovexattrer = (*dir)(nil)
)

// Setxattr changes what can be changed: an identifier's rights (SETACL),
// the subscription ("1" or "0"), a metadata entry (SETMETADATA).
func (d *dir) Setxattr(ctx context.Context, req *fuse.SetxattrRequest) error {
	if d.fs.readOnly {
		return syscall.EROFS
	}
	ctx, cancel := d.fs.request(ctx)
	defer cancel()
	op := "setxattr " + req.Name + " " + joinPath(d.p())
	a, mailbox, ok, err := d.xattrMailbox(ctx)
	if err != nil {
		return d.fs.errno(op, err)
	}
	if !ok {
		return syscall.EOPNOTSUPP
	}
	switch {
	case strings.HasPrefix(req.Name, xattrMetaPrefix) && a.metadata:
		err = d.fs.store.SetMetadata(ctx, mailbox, strings.TrimPrefix(req.Name, xattrMetaPrefix), req.Xattr)
	case a.root && strings.HasPrefix(req.Name, xattrSetQuotaPrefix) && a.quota:
		limits, perr := parseLimits(string(req.Xattr))
		if perr != nil {
			return syscall.EINVAL
		}
		err = d.fs.store.SetQuota(ctx, strings.TrimPrefix(req.Name, xattrSetQuotaPrefix), limits)
	case readOnlyDirXattr(req.Name):
		// What the server computes (STATUS, the ACL as a whole, rights,
		// quota, ...) cannot be set; a copy of a mailbox directory with its
		// attributes (rsync -X from a backup) brings them along, and must
		// not fail for it.
		d.fs.log.Debug("ignoring a read-only attribute", "name", req.Name, "dir", joinPath(d.p()))
		return nil
	case a.root:
		return syscall.EOPNOTSUPP
	case strings.HasPrefix(req.Name, xattrACLPrefix) && a.acl:
		err = d.fs.store.SetACL(ctx, mailbox, strings.TrimPrefix(req.Name, xattrACLPrefix), string(req.Xattr))
	case req.Name == xattrSubscribed:
		switch string(req.Xattr) {
		case "1":
			err = d.fs.store.Subscribe(ctx, mailbox, true)
		case "0":
			err = d.fs.store.Subscribe(ctx, mailbox, false)
		default:
			return syscall.EINVAL
		}
	default:
		return syscall.EOPNOTSUPP
	}
	return d.fs.errno(op, err)
}

// Removexattr removes an identifier's rights (DELETEACL) or a metadata
// entry (SETMETADATA NIL).
func (d *dir) Removexattr(ctx context.Context, req *fuse.RemovexattrRequest) error {
	if d.fs.readOnly {
		return syscall.EROFS
	}
	ctx, cancel := d.fs.request(ctx)
	defer cancel()
	op := "removexattr " + req.Name + " " + joinPath(d.p())
	a, mailbox, ok, err := d.xattrMailbox(ctx)
	if err != nil {
		return d.fs.errno(op, err)
	}
	if !ok {
		return fuse.ErrNoXattr
	}
	switch {
	case strings.HasPrefix(req.Name, xattrMetaPrefix) && a.metadata:
		err = d.fs.store.SetMetadata(ctx, mailbox, strings.TrimPrefix(req.Name, xattrMetaPrefix), nil)
	case !a.root && strings.HasPrefix(req.Name, xattrACLPrefix) && a.acl:
		err = d.fs.store.DeleteACL(ctx, mailbox, strings.TrimPrefix(req.Name, xattrACLPrefix))
	case a.root && strings.HasPrefix(req.Name, xattrSetQuotaPrefix) && a.quota:
		err = d.fs.store.SetQuota(ctx, strings.TrimPrefix(req.Name, xattrSetQuotaPrefix), nil)
	default:
		return fuse.ErrNoXattr
	}
	return d.fs.errno(op, err)
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
