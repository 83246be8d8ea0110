package cache

import (
	"context"
	"strings"

	"imapfs/imapclient"
	"imapfs/imapclient/imapwire"
)

// Mailbox and server metadata, in METADATA's (RFC 5464) names:
// "/private/comment", "/shared/vendor/x". A server that has only the
// older ANNOTATEMORE draft keeps the same data as entries ("/comment")
// with a private and a shared value ("value.priv", "value.shared"); Cyrus
// maps the two onto each other exactly this way.

// Annotation attributes standing for METADATA's /private and /shared.
var annotationScopes = []struct{ prefix, attribute string }{
	{"/private", "value.priv"},
	{"/shared", "value.shared"},
}

// metadataVia tells which command family serves the metadata of
// mailboxes, or of the server itself: "METADATA", "ANNOTATEMORE", or ""
// for none.
func metadataVia(caps imapclient.Capabilities, server bool) string {
	switch {
	case caps.Has("METADATA"), server && caps.Has("METADATA-SERVER"):
		return "METADATA"
	case caps.Has("ANNOTATEMORE"):
		return "ANNOTATEMORE"
	}
	return ""
}

// HasMetadata reports whether the server keeps metadata for mailboxes, or
// for itself when server is true.
func (s *Store) HasMetadata(ctx context.Context, server bool) (bool, error) {
	caps, err := s.pool.Capabilities(ctx)
	if err != nil {
		return false, err
	}
	return metadataVia(caps, server) != "", nil
}

// Metadata returns every /private and /shared entry of a mailbox ("" for
// the server) that has a value.
func (s *Store) Metadata(ctx context.Context, mailbox string) (map[string][]byte, error) {
	var entries map[string][]byte
	err := s.readAny(ctx, func(c *imapclient.Client) error {
		var err error
		switch metadataVia(c.Capabilities(), mailbox == "") {
		case "METADATA":
			var md *imapclient.Metadata
			md, err = c.GetMetadata(ctx, mailbox, []string{"/private", "/shared"},
				&imapclient.MetadataOptions{Depth: imapclient.MetadataDepthInfinity})
			if md != nil {
				entries = md.Entries
			}
		case "ANNOTATEMORE":
			entries, err = annotationsAsMetadata(ctx, c, mailbox)
		default:
			err = &imapclient.NotSupportedError{Capability: "METADATA"}
		}
		return err
	})
	return entries, err
}

// annotationsAsMetadata reads every entry's private and shared value
// (GETANNOTATION) under METADATA's names.
func annotationsAsMetadata(ctx context.Context, c *imapclient.Client, mailbox string) (map[string][]byte, error) {
	attributes := make([]string, len(annotationScopes))
	for i, scope := range annotationScopes {
		attributes[i] = scope.attribute
	}
	annotations, err := c.GetAnnotation(ctx, mailbox, []string{"*"}, attributes)
	if err != nil {
		return nil, err
	}
	entries := map[string][]byte{}
	for _, a := range annotations {
		// The mailbox argument is a LIST pattern: a name holding * or %
		// may match others too.
		if a.Mailbox != mailbox {
			continue
		}
		for _, scope := range annotationScopes {
			if v, ok := a.Values[scope.attribute]; ok {
				entries[scope.prefix+a.Entry] = v
			}
		}
	}
	return entries, nil
}

// SetMetadata sets one entry (SETMETADATA, or SETANNOTATION of its
// private or shared value); a nil value removes it.
func (s *Store) SetMetadata(ctx context.Context, mailbox, entry string, value []byte) error {
	return s.any(ctx, func(c *imapclient.Client) error {
		switch metadataVia(c.Capabilities(), mailbox == "") {
		case "METADATA":
			return c.SetMetadata(ctx, mailbox, map[string][]byte{entry: value})
		case "ANNOTATEMORE":
			for _, scope := range annotationScopes {
				if name, ok := strings.CutPrefix(entry, scope.prefix); ok && strings.HasPrefix(name, "/") {
					return c.SetAnnotation(ctx, mailbox, name, map[string][]byte{scope.attribute: value})
				}
			}
			return &imapwire.ArgumentError{What: "metadata entry", Value: entry, Reason: "is neither /private/... nor /shared/..."}
		}
		return &imapclient.NotSupportedError{Capability: "METADATA"}
	})
}
