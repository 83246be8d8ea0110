package imapclient

import "strings"

// What Response keeps is bounded, since a connection may live for days:
// the latest responsesPerName of each name, and no more than
// responsesNames names (a server chooses its response codes).
const (
	responsesPerName = 64
	responsesNames   = 64
)

// Response returns the unilateral data (what Options.Updates receives)
// of one name received so far, oldest first, and forgets it (imaplib's
// response). name is a response ("EXISTS", "RECENT", "EXPUNGE",
// "VANISHED", "FLAGS", "FETCH", "OK", "NO", "BAD", "BYE") or a response
// code of an untagged OK, NO, BAD or BYE ("ALERT", "UIDVALIDITY",
// "READ-ONLY", ...), in any case; a response with a code is kept under
// both names. Only the latest 64 of each name are kept.
func (c *Client) Response(name string) []Update {
	name = strings.ToUpper(name)
	c.mu.Lock()
	defer c.mu.Unlock()
	kept := c.responses[name]
	delete(c.responses, name)
	return kept
}

// keepResponse keeps upd for Response; it sees every update.
func (c *Client) keepResponse(upd Update) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.responses == nil {
		c.responses = map[string][]Update{}
	}
	for _, name := range responseNames(upd) {
		kept, ok := c.responses[name]
		if !ok && len(c.responses) >= responsesNames {
			continue
		}
		if len(kept) == responsesPerName {
			kept = append(kept[:0], kept[1:]...)
		}
		c.responses[name] = append(kept, upd)
	}
}

// responseNames are the names Response finds upd under.
func responseNames(upd Update) []string {
	switch u := upd.(type) {
	case ExistsUpdate:
		return []string{"EXISTS"}
	case RecentUpdate:
		return []string{"RECENT"}
	case ExpungeUpdate:
		return []string{"EXPUNGE"}
	case VanishedUpdate:
		return []string{"VANISHED"}
	case FlagsUpdate:
		return []string{"FLAGS"}
	case MessageUpdate:
		return []string{"FETCH"}
	case StatusUpdate:
		if u.Code != nil {
			return []string{u.Type, u.Code.Name}
		}
		return []string{u.Type}
	case ByeUpdate:
		if u.Bye.Code != nil {
			return []string{"BYE", u.Bye.Code.Name}
		}
		return []string{"BYE"}
	}
	return nil
}
