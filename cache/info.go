package cache

import (
	"context"
	"errors"

	"imapfs/imapclient"
)

// What the server says about the account and its mailboxes beyond
// messages: capabilities, namespaces, quota, STATUS. Asked fresh each
// time: tools ask rarely (df, getfattr), and the answers change.

// Capabilities lists the server's capabilities after login.
func (s *Store) Capabilities(ctx context.Context) ([]string, error) {
	caps, err := s.pool.Capabilities(ctx)
	if err != nil {
		return nil, err
	}
	var list []string
	for name := range caps {
		list = append(list, name)
	}
	return list, nil
}

// Namespaces asks NAMESPACE.
func (s *Store) Namespaces(ctx context.Context) (*imapclient.Namespaces, error) {
	var ns *imapclient.Namespaces
	err := s.readAny(ctx, func(c *imapclient.Client) error {
		var err error
		ns, err = c.Namespace(ctx)
		return err
	})
	return ns, err
}

// Quota is the quota of INBOX's quota root (GETQUOTAROOT INBOX), the
// account's as far as df is concerned; nil without QUOTA or a quota.
func (s *Store) Quota(ctx context.Context) ([]imapclient.QuotaResource, error) {
	var res []imapclient.QuotaResource
	err := s.readAny(ctx, func(c *imapclient.Client) error {
		res = nil
		if !c.Has("QUOTA") {
			return nil
		}
		roots, err := c.GetQuotaRoot(ctx, "INBOX")
		for _, r := range roots {
			res = append(res, r.Resources...)
		}
		return err
	})
	return res, err
}

// Status asks STATUS for a mailbox's items, after a NOOP: a session that
// has the mailbox selected may otherwise answer from its older view.
func (s *Store) Status(ctx context.Context, mailbox string, items ...string) (*imapclient.StatusData, error) {
	var st *imapclient.StatusData
	err := s.readAny(ctx, func(c *imapclient.Client) error {
		if err := c.Noop(ctx); err != nil {
			return err
		}
		var err error
		st, err = c.Status(ctx, mailbox, items...)
		return err
	})
	return st, err
}

// Has reports whether the server has a capability (after login).
func (s *Store) Has(ctx context.Context, capability string) (bool, error) {
	caps, err := s.pool.Capabilities(ctx)
	if err != nil {
		return false, err
	}
	return caps.Has(capability), nil
}

// any runs f on some connection: the mailbox-level commands that need no
// selected mailbox (ACL, quota, metadata, subscriptions).
func (s *Store) any(ctx context.Context, f func(c *imapclient.Client) error) error {
	return s.pool.Any(ctx, f)
}

// ACL is GETACL.
func (s *Store) ACL(ctx context.Context, mailbox string) (acl []imapclient.ACLEntry, err error) {
	err = s.readAny(ctx, func(c *imapclient.Client) error { acl, err = c.GetACL(ctx, mailbox); return err })
	return acl, err
}

// SetACL is SETACL; DeleteACL, DELETEACL.
func (s *Store) SetACL(ctx context.Context, mailbox, identifier, rights string) error {
	return s.any(ctx, func(c *imapclient.Client) error { return c.SetACL(ctx, mailbox, identifier, rights) })
}

// DeleteACL is DELETEACL.
func (s *Store) DeleteACL(ctx context.Context, mailbox, identifier string) error {
	return s.any(ctx, func(c *imapclient.Client) error { return c.DeleteACL(ctx, mailbox, identifier) })
}

// MyRights is MYRIGHTS.
func (s *Store) MyRights(ctx context.Context, mailbox string) (rights string, err error) {
	err = s.readAny(ctx, func(c *imapclient.Client) error { rights, err = c.MyRights(ctx, mailbox); return err })
	return rights, err
}

// QuotaRoots is GETQUOTAROOT of a mailbox.
func (s *Store) QuotaRoots(ctx context.Context, mailbox string) (roots []imapclient.Quota, err error) {
	err = s.readAny(ctx, func(c *imapclient.Client) error { roots, err = c.GetQuotaRoot(ctx, mailbox); return err })
	return roots, err
}

// Subscribed tells whether LSUB lists the mailbox.
func (s *Store) Subscribed(ctx context.Context, mailbox string) (bool, error) {
	var found bool
	err := s.readAny(ctx, func(c *imapclient.Client) error {
		infos, err := c.Lsub(ctx, "", mailbox)
		for _, info := range infos {
			if info.Name == mailbox && !info.HasAttr(imapclient.AttrNoSelect) {
				found = true
			}
		}
		return err
	})
	return found, err
}

// Subscribe subscribes (SUBSCRIBE) or unsubscribes (UNSUBSCRIBE).
func (s *Store) Subscribe(ctx context.Context, mailbox string, on bool) error {
	return s.any(ctx, func(c *imapclient.Client) error {
		if on {
			return c.Subscribe(ctx, mailbox)
		}
		return c.Unsubscribe(ctx, mailbox)
	})
}

// ModSeq fetches a message's modification sequence (CONDSTORE), which
// changes with its flags, so it is asked each time.
func (s *Store) ModSeq(ctx context.Context, mailbox string, uidValidity, uid uint32) (uint64, error) {
	if ok, err := s.Has(ctx, "CONDSTORE"); err != nil || !ok {
		return 0, errors.Join(err, &imapclient.NotSupportedError{Capability: "CONDSTORE"})
	}
	var modseq uint64
	err := s.readMailbox(ctx, mailbox, func(c *imapclient.Client, m *imapclient.MailboxStatus) error {
		if m.UIDValidity != uidValidity {
			return ErrStale
		}
		var set imapclient.SeqSet
		set.AddNum(uid)
		msgs, err := c.UIDFetch(ctx, set, []string{imapclient.FetchUID, imapclient.FetchModSeq}, nil)
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			return ErrGone
		}
		modseq = msgs[0].ModSeq
		return nil
	})
	return modseq, err
}

// freshRead runs an idempotent f on a connection with mailbox selected,
// after a NOOP so that f sees what other clients did meanwhile, and
// returns the UIDVALIDITY the UIDs f found belong to.
func (s *Store) freshRead(ctx context.Context, mailbox string, f func(c *imapclient.Client) error) (uint32, error) {
	var uidValidity uint32
	err := s.readMailbox(ctx, mailbox, func(c *imapclient.Client, m *imapclient.MailboxStatus) error {
		if err := c.Noop(ctx); err != nil {
			return err
		}
		uidValidity = m.UIDValidity
		return f(c)
	})
	return uidValidity, err
}

// Search runs UID SEARCH in a mailbox and returns the matching UIDs and
// the UIDVALIDITY they belong to.
func (s *Store) Search(ctx context.Context, mailbox string, criteria *imapclient.SearchCriteria) (uids []uint32, uidValidity uint32, err error) {
	uidValidity, err = s.freshRead(ctx, mailbox, func(c *imapclient.Client) error {
		uids, err = c.UIDSearch(ctx, criteria)
		return err
	})
	return uids, uidValidity, err
}

// allMessages is the search criteria for a whole mailbox.
var allMessages = func() *imapclient.SearchCriteria {
	all, err := imapclient.ParseSearchCriteria("ALL")
	if err != nil {
		panic(err)
	}
	return all
}()

// Sort runs UID SORT over the whole mailbox.
func (s *Store) Sort(ctx context.Context, mailbox string, keys []imapclient.SortCriterion) (uids []uint32, uidValidity uint32, err error) {
	uidValidity, err = s.freshRead(ctx, mailbox, func(c *imapclient.Client) error {
		uids, err = c.UIDSort(ctx, keys, allMessages)
		return err
	})
	return uids, uidValidity, err
}

// Thread runs UID THREAD over the whole mailbox.
func (s *Store) Thread(ctx context.Context, mailbox, algorithm string) (threads []imapclient.Thread, uidValidity uint32, err error) {
	uidValidity, err = s.freshRead(ctx, mailbox, func(c *imapclient.Client) error {
		threads, err = c.UIDThread(ctx, algorithm, allMessages)
		return err
	})
	return threads, uidValidity, err
}

// SetQuota sets a quota root's limits (SETQUOTA; administrators only on
// most servers); no limits removes them.
func (s *Store) SetQuota(ctx context.Context, root string, limits map[string]uint64) error {
	return s.any(ctx, func(c *imapclient.Client) error { return c.SetQuota(ctx, root, limits) })
}
