package imapclient

import (
	"context"
	"slices"
	"strings"

	"imapfs/imapclient/imapwire"
)

// Quotas (RFC 9208, which replaced RFC 2087): imaplib's getquota,
// getquotaroot and setquota.

// QuotaResource is one resource of a quota root as the server counts it:
// STORAGE in KiB (Cyrus rounds its usage down), MESSAGE in messages, and
// others the server may name.
type QuotaResource struct {
	Name  string // in capitals, e.g. "STORAGE"
	Usage uint64
	Limit uint64
}

// Quota is a quota root and its resources.
type Quota struct {
	Root      string
	Resources []QuotaResource // nil when the server did not report the root's quota
}

// GetQuota returns the resources of a quota root (imaplib's getquota, RFC
// 9208 GETQUOTA). Roots are named by GetQuotaRoot: Dovecot's is "User
// quota", Cyrus's is the user's "INBOX" (and "user.NAME" for the admin).
func (c *Client) GetQuota(ctx context.Context, root string) ([]QuotaResource, error) {
	if !c.Has("QUOTA") {
		return nil, &NotSupportedError{Capability: "QUOTA"}
	}
	quotas := map[string][]QuotaResource{}
	cmd := newCommand("GETQUOTA", "QUOTA")
	cmd.handle = func(u *untagged) error { return quotaReadQuota(u.dec, cmd, quotas) }
	_, err := c.execute(ctx, cmd, func(e *imapwire.Encoder) {
		e.Atom("GETQUOTA").SP().AString(root)
	})
	if err != nil {
		return nil, err
	}
	if res, ok := quotas[root]; ok {
		return res, nil
	}
	if len(quotas) == 1 {
		for _, res := range quotas {
			return res, nil // the root we asked for, spelt another way
		}
	}
	return nil, &imapwire.ProtocolError{What: "GETQUOTA", Msg: "no QUOTA response"}
}

// GetQuotaRoot returns the quota roots of a mailbox, in the server's
// order, with their resources (imaplib's getquotaroot, RFC 9208
// GETQUOTAROOT). A mailbox under no quota has no roots.
func (c *Client) GetQuotaRoot(ctx context.Context, mailbox string) ([]Quota, error) {
	if !c.Has("QUOTA") {
		return nil, &NotSupportedError{Capability: "QUOTA"}
	}
	var roots []string
	quotas := map[string][]QuotaResource{}
	cmd := newCommand("GETQUOTAROOT", "QUOTAROOT", "QUOTA")
	cmd.handle = func(u *untagged) error {
		if u.Name == "QUOTA" {
			return quotaReadQuota(u.dec, cmd, quotas)
		}
		// " mailbox *(SP root)"
		if err := u.dec.ExpectSP(); err != nil {
			return err
		}
		if _, err := u.dec.ReadAString(); err != nil {
			return err
		}
		var got []string
		for u.dec.ReadSP() {
			root, err := u.dec.ReadAString()
			if err != nil {
				return err
			}
			got = append(got, root)
		}
		cmd.deliver(func() { roots = got })
		return nil
	}
	_, err := c.execute(ctx, cmd, func(e *imapwire.Encoder) {
		e.Atom("GETQUOTAROOT").SP().Mailbox(mailbox)
	})
	if err != nil {
		return nil, err
	}
	result := make([]Quota, 0, len(roots))
	for _, root := range roots {
		result = append(result, Quota{Root: root, Resources: quotas[root]})
	}
	return result, nil
}

// SetQuota sets the limits of a quota root, by resource name (imaplib's
// setquota, RFC 9208 SETQUOTA); resources left out lose their limit, so an
// empty map removes them all. Servers reserve it to administrators: Cyrus
// lets its admin set "user.NAME", Dovecot refuses it to everyone over IMAP.
func (c *Client) SetQuota(ctx context.Context, root string, limits map[string]uint64) error {
	if !c.Has("QUOTA") {
		return &NotSupportedError{Capability: "QUOTA"}
	}
	names := make([]string, 0, len(limits))
	for name := range limits {
		names = append(names, name)
	}
	slices.Sort(names) // the same command for the same limits
	// The server may answer with the new QUOTA; it tells nothing new.
	cmd := newCommand("SETQUOTA", "QUOTA")
	cmd.handle = func(u *untagged) error { return quotaReadQuota(u.dec, cmd, map[string][]QuotaResource{}) }
	_, err := c.execute(ctx, cmd, func(e *imapwire.Encoder) {
		e.Atom("SETQUOTA").SP().AString(root).SP()
		e.List(len(names), func(i int) {
			e.Atom(names[i]).SP().Number64(limits[names[i]])
		})
	})
	return err
}

// quotaReadQuota reads " root (name usage limit ...)" into quotas.
func quotaReadQuota(dec *imapwire.Decoder, cmd *command, quotas map[string][]QuotaResource) error {
	if err := dec.ExpectSP(); err != nil {
		return err
	}
	root, err := dec.ReadAString()
	if err != nil {
		return err
	}
	if err := dec.ExpectSP(); err != nil {
		return err
	}
	res := []QuotaResource{} // "()" is a root without limits, not an unreported one
	err = dec.ReadList(func() error {
		name, err := dec.ReadAtom()
		if err != nil {
			return err
		}
		r := QuotaResource{Name: strings.ToUpper(name)}
		if err := dec.ExpectSP(); err != nil {
			return err
		}
		if r.Usage, err = dec.ReadNumber64(); err != nil {
			return err
		}
		if err := dec.ExpectSP(); err != nil {
			return err
		}
		if r.Limit, err = dec.ReadNumber64(); err != nil {
			return err
		}
		res = append(res, r)
		return nil
	})
	if err != nil {
		return err
	}
	cmd.deliver(func() { quotas[root] = res })
	return nil
}
