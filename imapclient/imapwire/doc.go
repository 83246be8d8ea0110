// Package imapwire encodes IMAP4rev1 commands and decodes server responses
// token by token (RFC 3501 section 9, with the LITERAL+, LITERAL-, BINARY
// and UTF8=ACCEPT additions). It knows the syntax of the protocol, not its
// commands: those live in the imapclient package that uses it.
//
// The Encoder is strict: every byte a command sends goes through it, and it
// refuses any input that could end a command line early or change its
// meaning. The Decoder is tolerant: it accepts what real servers send even
// where that strays from the grammar, and it can skip any response it does
// not understand.
package imapwire
