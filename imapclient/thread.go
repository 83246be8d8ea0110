package imapclient

import (
	"context"
	"strings"

	"imapfs/imapclient/imapwire"
)

// Threading algorithms: RFC 5256's two, and REFS (a refinement of
// REFERENCES that sorts threads by their latest message), which Dovecot
// and Cyrus offer.
const (
	ThreadOrderedSubject = "ORDEREDSUBJECT"
	ThreadReferences     = "REFERENCES"
	ThreadRefs           = "REFS"
)

// Thread is a message and its replies. Num is a sequence number or a UID
// (UIDThread); it is 0 for a parent the server knows of but that is not
// in the mailbox or does not match, whose Children are then siblings.
type Thread struct {
	Num      uint32
	Children []Thread
}

// threadMaxDepth bounds the nesting of a THREAD response, which only
// grows at branches (a plain reply chain is one flat list).
const threadMaxDepth = 1000

// Thread runs THREAD (RFC 5256, imaplib's thread) with algorithm and
// returns the threads of the messages matching criteria, in sequence
// numbers. The server must announce THREAD=algorithm.
func (c *Client) Thread(ctx context.Context, algorithm string, criteria *SearchCriteria) ([]Thread, error) {
	return c.thread(ctx, false, algorithm, criteria)
}

// UIDThread is Thread in UIDs (UID THREAD).
func (c *Client) UIDThread(ctx context.Context, algorithm string, criteria *SearchCriteria) ([]Thread, error) {
	return c.thread(ctx, true, algorithm, criteria)
}

func (c *Client) thread(ctx context.Context, uid bool, algorithm string, criteria *SearchCriteria) ([]Thread, error) {
	algorithm = strings.ToUpper(algorithm)
	if !imapwire.IsAtom(algorithm) || !c.Has("THREAD="+algorithm) {
		return nil, &NotSupportedError{Capability: "THREAD=" + algorithm}
	}
	charset, err := sortCharset(criteria)
	if err != nil {
		return nil, err
	}
	cmd := newCommand(searchUIDName(uid, "THREAD"), "THREAD")
	var threads []Thread
	cmd.handle = func(u *untagged) error {
		var got []Thread
		// Threads are lists written back to back; allow spaces between.
		for {
			u.dec.ReadSP()
			if b, err := u.dec.PeekByte(); err != nil || b != '(' {
				break
			}
			t, err := threadRead(u.dec, 0)
			if err != nil {
				return err
			}
			got = append(got, t)
		}
		cmd.deliver(func() { threads = append(threads, got...) })
		return nil
	}
	_, err = c.execute(ctx, cmd, func(e *imapwire.Encoder) {
		searchWriteUID(e, uid)
		e.Atom("THREAD").SP().Atom(algorithm).SP().Atom(charset).SP()
		criteria.encode(e)
	})
	if err != nil {
		return nil, err
	}
	return threads, nil
}

// threadRead reads one thread-list: "(1 2 3 (4 5)(6))" is 1, replied to
// by 2, replied to by 3, which has two replies, 4 (itself replied to by 5)
// and 6. "((4)(6))" is two threads under a missing parent.
func threadRead(dec *imapwire.Decoder, depth int) (Thread, error) {
	if depth >= threadMaxDepth {
		return Thread{}, &imapwire.ProtocolError{What: "THREAD", Msg: "nested too deep"}
	}
	var chain []uint32
	var nested []Thread
	err := dec.ReadList(func() error {
		b, err := dec.PeekByte()
		if err != nil {
			return err
		}
		if b == '(' {
			t, err := threadRead(dec, depth+1)
			nested = append(nested, t)
			return err
		}
		if nested != nil {
			return &imapwire.ProtocolError{What: "THREAD", Msg: "a number after nested threads"}
		}
		n, err := dec.ReadNumber()
		chain = append(chain, n)
		return err
	})
	if err != nil {
		return Thread{}, err
	}
	if len(chain) == 0 {
		return Thread{Children: nested}, nil
	}
	// Build the chain from its end: the last message holds the branches.
	t := Thread{Num: chain[len(chain)-1], Children: nested}
	for i := len(chain) - 2; i >= 0; i-- {
		t = Thread{Num: chain[i], Children: []Thread{t}}
	}
	return t, nil
}
