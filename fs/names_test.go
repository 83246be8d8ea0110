package fs

import "testing"

func TestComponentNames(t *testing.T) {
	for component, name := range map[string]string{
		"INBOX":     "INBOX",
		"Büro & Co": "Büro & Co",
		"a/b":       "a%2Fb",
		"100%":      "100%25",
		"%2F":       "%252F",
		"/":         "%2F",
		"日本語":       "日本語",
		"x%25/y":    "x%2525%2Fy",
		".":         "%2E",
		"..":        "%2E.",
		"...":       "...",
		".hidden":   ".hidden",
		".search":   "%2Esearch",
		".thread":   "%2Ethread",
	} {
		if got, ok := componentToName(component); got != name || !ok {
			t.Errorf("componentToName(%q) = %q, %v; want %q", component, got, ok, name)
		}
		back, err := nameToComponent(name)
		if err != nil || back != component {
			t.Errorf("nameToComponent(%q) = %q, %v; want %q", name, back, err, component)
		}
	}
	// An empty component ("/lead", "a//b", "x/" split at "/"), or one with
	// bytes no request could send back, has no file name.
	for _, component := range []string{"", "nul\x00", "\x00", "cr\rlf\n"} {
		if got, ok := componentToName(component); ok {
			t.Errorf("componentToName(%q) = %q, want none", component, got)
		}
	}
	for _, bad := range []string{"", "%", "%2", "%2f", "%41", "50%off", "a\r\nb", "nul\x00", "%2Eother", "%2E%2E", "%2E..", "x%2E"} {
		if got, err := nameToComponent(bad); err == nil {
			t.Errorf("nameToComponent(%q) = %q, accepted", bad, got)
		}
	}
}

// The names of a mailbox list: a path with a component that cannot be a
// file name has none, so that the mailbox is left out rather than listed
// as "" or "..".
func TestFileNames(t *testing.T) {
	for _, tc := range []struct {
		path []string
		want []string
	}{
		{[]string{"a", "b"}, []string{"a", "b"}},
		{[]string{"", "lead"}, nil},   // "/lead"
		{[]string{"a", "", "b"}, nil}, // "a//b"
		{[]string{"x", ""}, nil},      // "x/"
		{[]string{"p", "\x00"}, nil},  // "p/&AAA-"
		{[]string{"a", "..", "b"}, []string{"a", "%2E.", "b"}},
	} {
		got, ok := fileNames(tc.path)
		if ok != (tc.want != nil) || len(got) != len(tc.want) {
			t.Errorf("fileNames(%q) = %q, %v; want %q", tc.path, got, ok, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("fileNames(%q) = %q, want %q", tc.path, got, tc.want)
			}
		}
	}
}
