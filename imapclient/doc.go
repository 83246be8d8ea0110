// Package imapclient is an IMAP4rev1 client modelled on Python's imaplib:
// its full command set, and helpers under the names imaplib readers know
// (Internaldate2tuple, Time2Internaldate, ParseFlags). The protocol syntax
// itself lives in the imapwire subpackage.
package imapclient
