package imapclient

import (
	"testing"
	"time"
)

func TestParseInternalDate(t *testing.T) {
	for in, want := range map[string]string{
		"17-Jul-1996 02:44:25 -0700":   "1996-07-17T02:44:25-07:00",
		`"17-Jul-1996 02:44:25 -0700"`: "1996-07-17T02:44:25-07:00",
		" 7-Jul-1996 02:44:25 +0000":   "1996-07-07T02:44:25Z",
		"07-Jul-1996 02:44:25 +0530":   "1996-07-07T02:44:25+05:30",
		"7-jul-1996 23:59:59 -1200":    "1996-07-07T23:59:59-12:00",
		"29-Feb-2024 00:00:00 +0100":   "2024-02-29T00:00:00+01:00",
	} {
		got, err := ParseInternalDate(in)
		if err != nil {
			t.Errorf("ParseInternalDate(%q): %v", in, err)
			continue
		}
		if w, _ := time.Parse(time.RFC3339, want); !got.Equal(w) || got.Format("-0700") != w.Format("-0700") {
			t.Errorf("ParseInternalDate(%q) = %v, want %v", in, got, want)
		}
	}
	for _, in := range []string{
		"", "17-Jul-1996", "17-Jul-1996 02:44:25", "17-Jly-1996 02:44:25 -0700",
		"30-Feb-2023 02:44:25 -0700", "17-Jul-1996 25:44:25 -0700", `"17-Jul-1996 02:44:25 -0700`,
	} {
		if got, err := ParseInternalDate(in); err == nil {
			t.Errorf("ParseInternalDate(%q) = %v, want an error", in, got)
		}
	}
}

func TestTime2Internaldate(t *testing.T) {
	zone := time.FixedZone("", -7*3600)
	for _, tc := range []struct {
		in   time.Time
		want string
	}{
		{time.Date(1996, 7, 17, 2, 44, 25, 0, zone), "17-Jul-1996 02:44:25 -0700"},
		{time.Date(2024, 1, 5, 23, 0, 9, 999, time.UTC), "05-Jan-2024 23:00:09 +0000"},
	} {
		got := Time2Internaldate(tc.in)
		if got != tc.want {
			t.Errorf("Time2Internaldate(%v) = %q, want %q", tc.in, got, tc.want)
		}
		if back, err := ParseInternalDate(got); err != nil || !back.Equal(tc.in.Truncate(time.Second)) {
			t.Errorf("round trip of %q: %v, %v", got, back, err)
		}
	}
}

// The INTERNALDATE of a FETCH response is read without time.Parse in
// its usual form: the time, its zone and what is refused must be
// time.Parse's all the same.
func TestParseInternalDateBytesIsParse(t *testing.T) {
	n := 0
	for _, day := range []string{" 1", "1", "01", "29", "30", "31", "00", "32", " 0", "x1", "1 "} {
		for _, month := range []string{"Jan", "feb", "FEB", "Feb", "Dec", "Jly"} {
			for _, year := range []string{"1996", "2024", "2023", "0000", "9999", "+996"} {
				for _, clock := range []string{"00:00:00", "23:59:59", "24:00:00", "12:60:00", "12:00:60", "1:00:000"} {
					for _, zone := range []string{"+0000", "-0000", "+0100", "-0700", "+0530", "+2400", "-2359", "+0060", "+1400", "*0100", "+01000"} {
						in := day + "-" + month + "-" + year + " " + clock + " " + zone
						got, gotErr := parseInternalDateBytes([]byte(in))
						want, wantErr := ParseInternalDate(in)
						if (gotErr == nil) != (wantErr == nil) || !got.Equal(want) || got.Location().String() != want.Location().String() {
							t.Errorf("%q: %v (%v), %v; time.Parse: %v (%v), %v", in, got, got.Location(), gotErr, want, want.Location(), wantErr)
						}
						if _, ok := parseUsualInternalDate([]byte(in)); ok {
							n++
						}
						gotName, gotOffset := got.Zone()
						if wantName, wantOffset := want.Zone(); gotName != wantName || gotOffset != wantOffset {
							t.Errorf("%q: zone %q %d, time.Parse's %q %d", in, gotName, gotOffset, wantName, wantOffset)
						}
					}
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no date took the usual way")
	}
}
