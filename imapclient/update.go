package imapclient

import "imapfs/imapclient/imapwire"

// Update is unilateral data: what the server says without being asked
// (RFC 3501 7; RFC 7162 VANISHED). Options.Updates receives every one, in
// order, on the connection's reader goroutine, even while other commands
// run. It is one of the types below.
type Update interface{ isUpdate() }

// ExistsUpdate: the selected mailbox now has N messages.
type ExistsUpdate struct{ N uint32 }

// RecentUpdate: N messages of the selected mailbox are \Recent.
type RecentUpdate struct{ N uint32 }

// ExpungeUpdate: the message with sequence number Seq is gone; the
// following ones moved down by one.
type ExpungeUpdate struct{ Seq uint32 }

// VanishedUpdate: the messages with these UIDs are gone (QRESYNC).
// Earlier is set for the answer to a SELECT (QRESYNC) or UID FETCH
// (VANISHED), which reports expunges that happened before.
type VanishedUpdate struct {
	UIDs    SeqSet
	Earlier bool
}

// FlagsUpdate: the flags defined in the selected mailbox.
type FlagsUpdate struct{ Flags []string }

// MessageUpdate: a message's flags (and modification sequence) changed, or
// a FETCH response no command asked for.
type MessageUpdate struct{ Message *FetchMessage }

// StatusUpdate: an untagged OK, NO or BAD no command asked for, such as an
// ALERT or a change to READ-ONLY.
type StatusUpdate struct {
	Type string // "OK", "NO" or "BAD"
	Code *imapwire.RespCode
	Text string
}

// ByeUpdate: the server is closing the connection.
type ByeUpdate struct{ Bye *ByeError }

func (ExistsUpdate) isUpdate()   {}
func (RecentUpdate) isUpdate()   {}
func (ExpungeUpdate) isUpdate()  {}
func (VanishedUpdate) isUpdate() {}
func (FlagsUpdate) isUpdate()    {}
func (MessageUpdate) isUpdate()  {}
func (StatusUpdate) isUpdate()   {}
func (ByeUpdate) isUpdate()      {}
