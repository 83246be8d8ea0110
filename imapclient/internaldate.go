package imapclient

import (
	"fmt"
	"time"
)

// internalDateLayout is RFC 3501's date-time: the day may be space-padded
// ("_2" also accepts "07" and "7"), month names are matched in any case.
const internalDateLayout = "_2-Jan-2006 15:04:05 -0700"

// ParseInternalDate parses an INTERNALDATE such as
// "17-Jul-1996 02:44:25 -0700" or " 7-Jul-1996 02:44:25 +0000", with or
// without its surrounding double quotes. It is imaplib's
// Internaldate2tuple, taking the date itself rather than a whole response
// and returning a time.Time in the zone the server gave.
func ParseInternalDate(s string) (time.Time, error) {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	t, err := time.Parse(internalDateLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("imap: bad internal date %q: %w", s, err)
	}
	return t, nil
}

// Time2Internaldate formats t as an INTERNALDATE, "17-Jul-1996 02:44:25
// -0700", in t's own zone, as APPEND takes it. Unlike imaplib's function of
// the same name it returns the text without quotes: the command encoder
// adds them.
func Time2Internaldate(t time.Time) string {
	return t.Format("02-Jan-2006 15:04:05 -0700")
}
