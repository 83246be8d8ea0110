// Package fs holds imapfs's FUSE nodes (bazil.org/fuse): the root, mailbox
// directories, message files, pending new files, extended attributes, and
// the mapping of IMAP errors to errnos. It speaks to the server only through
// cache and imapclient.
//
// The package is not written yet: it comes with the read path.
package fs
