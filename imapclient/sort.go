package imapclient

import (
	"context"
	"strings"

	"imapfs/imapclient/imapwire"
)

// Sort keys (RFC 5256 3; DISPLAYFROM and DISPLAYTO need SORT=DISPLAY,
// RFC 5957).
const (
	SortArrival     = "ARRIVAL"
	SortCc          = "CC"
	SortDate        = "DATE"
	SortFrom        = "FROM"
	SortSize        = "SIZE"
	SortSubject     = "SUBJECT"
	SortTo          = "TO"
	SortDisplayFrom = "DISPLAYFROM"
	SortDisplayTo   = "DISPLAYTO"
)

// SortCriterion is one sort key, in ascending order unless Reverse.
type SortCriterion struct {
	Key     string
	Reverse bool
}

// Sort runs SORT (RFC 5256, imaplib's sort) and returns the sequence
// numbers of the messages matching criteria, ordered by the sort keys in
// turn. The search strings' charset is UTF-8 unless criteria.Charset says
// otherwise.
func (c *Client) Sort(ctx context.Context, keys []SortCriterion, criteria *SearchCriteria) ([]uint32, error) {
	return c.sort(ctx, false, keys, criteria)
}

// UIDSort is Sort returning UIDs (UID SORT).
func (c *Client) UIDSort(ctx context.Context, keys []SortCriterion, criteria *SearchCriteria) ([]uint32, error) {
	return c.sort(ctx, true, keys, criteria)
}

func (c *Client) sort(ctx context.Context, uid bool, keys []SortCriterion, criteria *SearchCriteria) ([]uint32, error) {
	if !c.Has("SORT") {
		return nil, &NotSupportedError{Capability: "SORT"}
	}
	if len(keys) == 0 {
		return nil, searchError("SORT needs at least one sort key")
	}
	for _, k := range keys {
		switch strings.ToUpper(k.Key) {
		case SortArrival, SortCc, SortDate, SortFrom, SortSize, SortSubject, SortTo:
		case SortDisplayFrom, SortDisplayTo:
			if !c.Has("SORT=DISPLAY") {
				return nil, &NotSupportedError{Capability: "SORT=DISPLAY"}
			}
		default:
			return nil, searchError("unknown sort key %q", k.Key)
		}
	}
	charset, err := sortCharset(criteria)
	if err != nil {
		return nil, err
	}
	cmd := newCommand(searchUIDName(uid, "SORT"), "SORT")
	var nums []uint32
	cmd.handle = func(u *untagged) error {
		got, err := searchReadNumbers(u.dec)
		cmd.deliver(func() { nums = append(nums, got...) })
		return err
	}
	_, err = c.execute(ctx, cmd, func(e *imapwire.Encoder) {
		searchWriteUID(e, uid)
		e.Atom("SORT").SP().List(len(keys), func(i int) {
			if keys[i].Reverse {
				e.Atom("REVERSE").SP()
			}
			e.Atom(strings.ToUpper(keys[i].Key))
		})
		e.SP().Atom(charset).SP()
		criteria.encode(e)
	})
	if err != nil {
		return nil, err
	}
	return nums, nil
}

// sortCharset is the charset SORT and THREAD must always name: UTF-8,
// which RFC 5256 requires servers to support, unless the caller chose one.
func sortCharset(criteria *SearchCriteria) (string, error) {
	charset, err := criteria.charset()
	if charset == "" {
		charset = "UTF-8"
	}
	return charset, err
}
