// Package fs holds imapfs's FUSE nodes (bazil.org/fuse): the root, mailbox
// directories, message files, pending new files, extended attributes, and
// the mapping of IMAP errors to errnos. It speaks to the server only through
// cache and imapclient.
//
// So far it has the mapping of mailbox names to file names and of errors
// to errnos; the nodes come with the read path.
package fs
