package imapclient

import "context"

// When the capabilities are known. The greeting may leave them out (RFC
// 3501 7.1), STARTTLS makes the plaintext ones void (6.2.1) and a login
// changes them; the server may say them in a CAPABILITY code or response,
// or not at all. Nil Capabilities mean "not known": they are asked with
// CAPABILITY before anything is decided on them.

// rev2Folded lists the extensions IMAP4rev2 made part of the base
// protocol (RFC 9051 appendix E, items 1 and 2): a server announcing
// IMAP4rev2 has them whether it names them or not.
var rev2Folded = map[string]bool{
	"NAMESPACE":     true,
	"UNSELECT":      true,
	"UIDPLUS":       true,
	"ESEARCH":       true,
	"SEARCHRES":     true,
	"ENABLE":        true,
	"IDLE":          true,
	"SASL-IR":       true,
	"LIST-EXTENDED": true,
	"LIST-STATUS":   true,
	"MOVE":          true,
	"LITERAL-":      true,
	"STATUS=SIZE":   true,
}

// implies reports whether the announced capabilities include name (in
// capitals) without naming it.
func (caps Capabilities) implies(name string) bool {
	return caps["IMAP4REV2"] && rev2Folded[name]
}

// knownCapabilities returns the capabilities, asking CAPABILITY first
// when they are not known.
func (c *Client) knownCapabilities(ctx context.Context) (Capabilities, error) {
	if caps := c.Capabilities(); caps != nil {
		return caps, nil
	}
	return c.Capability(ctx)
}

// forgetCapabilities makes the capabilities unknown.
func (c *Client) forgetCapabilities() {
	c.mu.Lock()
	c.caps = nil
	c.mu.Unlock()
}

// capabilitiesSeen counts the capability lists received so far: a command
// compares it before and after to tell whether its answer brought one.
func (c *Client) capabilitiesSeen() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.capsSeen
}
