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
	} {
		if got := componentToName(component); got != name {
			t.Errorf("componentToName(%q) = %q, want %q", component, got, name)
		}
		back, err := nameToComponent(name)
		if err != nil || back != component {
			t.Errorf("nameToComponent(%q) = %q, %v; want %q", name, back, err, component)
		}
	}
	for _, bad := range []string{"", "%", "%2", "%2f", "%41", "50%off", "a\r\nb", "nul\x00", "%2Eother"} {
		if got, err := nameToComponent(bad); err == nil {
			t.Errorf("nameToComponent(%q) = %q, accepted", bad, got)
		}
	}
}
