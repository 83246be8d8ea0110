package imapclient

import (
	"bytes"
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

// parseInternalDateBytes is ParseInternalDate of an INTERNALDATE as a
// FETCH response holds it (without quotes), making no string of the
// usual form, "17-Jul-1996 02:44:25 -0700" or " 7-Jul-1996 ...": a
// listing reads one per message. It gives the time time.Parse gives,
// in the Local zone when that has the date's offset at that time, and
// hands any other form to ParseInternalDate.
func parseInternalDateBytes(b []byte) (time.Time, error) {
	if t, ok := parseUsualInternalDate(b); ok {
		return t, nil
	}
	return ParseInternalDate(string(b))
}

func parseUsualInternalDate(b []byte) (time.Time, bool) {
	if len(b) != len("17-Jul-1996 02:44:25 -0700") || b[2] != '-' || b[6] != '-' || b[11] != ' ' ||
		b[14] != ':' || b[17] != ':' || b[20] != ' ' || b[21] != '+' && b[21] != '-' {
		return time.Time{}, false
	}
	ok := true
	num := func(digits []byte) int {
		n := 0
		for _, c := range digits {
			if c < '0' || c > '9' {
				ok = false
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	day := b[0:2]
	if day[0] == ' ' {
		day = day[1:]
	}
	d, year, hour, minute, sec := num(day), num(b[7:11]), num(b[12:14]), num(b[15:17]), num(b[18:20])
	zoneHour, zoneMinute := num(b[22:24]), num(b[24:26])
	month := time.Month(0)
	for m := time.January; m <= time.December; m++ {
		if bytes.EqualFold(b[3:6], []byte(m.String()[:3])) {
			month = m
		}
	}
	// Whatever time.Parse refuses, or may take otherwise, is left to it.
	if !ok || month == 0 || d < 1 || d > time.Date(year, month+1, 0, 0, 0, 0, 0, time.UTC).Day() ||
		hour > 23 || minute > 59 || sec > 59 || zoneHour > 23 || zoneMinute > 59 {
		return time.Time{}, false
	}
	offset := (zoneHour*60 + zoneMinute) * 60
	if b[21] == '-' {
		offset = -offset
	}
	t := time.Date(year, month, d, hour, minute, sec, 0, time.UTC).Add(-time.Duration(offset) * time.Second)
	if _, local := t.In(time.Local).Zone(); local == offset {
		return t.In(time.Local), true
	}
	return t.In(time.FixedZone("", offset)), true
}

// Time2Internaldate formats t as an INTERNALDATE, "17-Jul-1996 02:44:25
// -0700", in t's own zone, as APPEND takes it. Unlike imaplib's function of
// the same name it returns the text without quotes: the command encoder
// adds them.
func Time2Internaldate(t time.Time) string {
	return t.Format("02-Jan-2006 15:04:05 -0700")
}
