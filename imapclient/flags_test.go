package imapclient

import (
	"slices"
	"testing"
)

func TestParseFlags(t *testing.T) {
	for in, want := range map[string][]string{
		`(\Answered \Seen $Forwarded)`: {FlagAnswered, FlagSeen, KeywordForwarded},
		`()`:                           {},
		`* FLAGS (\Answered \Flagged \Deleted \Seen \Draft)`: {FlagAnswered, FlagFlagged, FlagDeleted, FlagSeen, FlagDraft},
		`* 12 FETCH (UID 7 flags (\seen \RECENT work))`:      {FlagSeen, FlagRecent, "work"},
		`* OK [PERMANENTFLAGS (\Deleted \*)] Limited`:        {FlagDeleted, FlagWildcard},
	} {
		got, err := ParseFlags(in)
		if err != nil || !slices.Equal(got, want) || got == nil {
			t.Errorf("ParseFlags(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "* OK done", `(\Seen`, `FLAGS (\Seen "x")`, "(a\r\nb)"} {
		if got, err := ParseFlags(in); err == nil {
			t.Errorf("ParseFlags(%q) = %q, want an error", in, got)
		}
	}
}

func TestValidateFlag(t *testing.T) {
	for _, ok := range []string{FlagSeen, FlagDeleted, `\Custom`, KeywordJunk, "work", "$Label1", "a.b-c_d"} {
		if err := ValidateFlag(ok); err != nil {
			t.Errorf("ValidateFlag(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{
		FlagRecent, `\recent`, FlagWildcard, "", `\`, "two words", `a\b`, `\\Seen`, "a(b",
		"a]b", "a%b", "a*b", `a"b`, "{5}", "x\r\nA1 LOGOUT", "nul\x00", "café",
	} {
		if err := ValidateFlag(bad); err == nil {
			t.Errorf("ValidateFlag(%q) accepted", bad)
		}
	}
}

func TestCanonicalFlag(t *testing.T) {
	for in, want := range map[string]string{`\SEEN`: FlagSeen, `\draft`: FlagDraft, "$junk": "$junk", `\Custom`: `\Custom`} {
		if got := CanonicalFlag(in); got != want {
			t.Errorf("CanonicalFlag(%q) = %q, want %q", in, got, want)
		}
	}
}
