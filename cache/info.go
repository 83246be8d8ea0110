package cache

import (
	"context"

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
	err := s.pool.Any(ctx, func(c *imapclient.Client) error {
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
	err := s.pool.Any(ctx, func(c *imapclient.Client) error {
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
	err := s.pool.Any(ctx, func(c *imapclient.Client) error {
		if err := c.Noop(ctx); err != nil {
			return err
		}
		var err error
		st, err = c.Status(ctx, mailbox, items...)
		return err
	})
	return st, err
}
