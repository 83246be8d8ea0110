package imapclient

import "imapfs/imapclient/internal/utf7"

// EncodeMailboxName converts a UTF-8 mailbox name to the modified UTF-7 of
// RFC 3501 section 5.1.3, the form servers without UTF8=ACCEPT expect. It
// fails only on invalid UTF-8.
func EncodeMailboxName(name string) (string, error) {
	return utf7.Encode(name)
}

// DecodeMailboxName converts a modified UTF-7 mailbox name to UTF-8. It
// accepts only the canonical spelling, so a decoded name encodes back to
// exactly the name the server sent.
func DecodeMailboxName(name string) (string, error) {
	return utf7.Decode(name)
}
