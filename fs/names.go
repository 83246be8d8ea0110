package fs

import (
	"errors"
	"strings"
)

// A mailbox name component becomes a file name: "/" inside a component
// cannot appear in a file name, so it is shown as %2F, and "%" itself as
// %25 so that the mapping can be undone; a leading "." is shown as %2E
// where the name would otherwise be "." or ".." or one of the virtual
// directories. A component no file name can stand for (empty, or holding
// NUL, CR or LF, which no request could send back) has no name.

// componentToName maps one component of a mailbox name (already decoded
// to UTF-8, between two server delimiters) to a file name; ok is false
// when there is none.
func componentToName(component string) (name string, ok bool) {
	if component == "" || strings.ContainsAny(component, "\x00\r\n") {
		return "", false
	}
	name = component
	if strings.ContainsAny(component, "%/") {
		name = strings.NewReplacer("%", "%25", "/", "%2F").Replace(component)
	}
	if dotName(component) {
		name = "%2E" + name[1:]
	}
	return name, true
}

// dotName: a component that, as it is, would be shown as "." or "..", or
// take the name of a virtual directory.
func dotName(component string) bool {
	switch component {
	case ".", "..", searchDirName, sortDirName, threadDirName:
		return true
	}
	return false
}

// errBadName: a file name that cannot name a mailbox component.
var errBadName = errors.New("not a valid mailbox name")

// nameToComponent undoes componentToName. It refuses names that
// componentToName could not have produced (a lone "%", "%2f" in lower case,
// any other escape), and names carrying bytes no mailbox name may hold
// (CR, LF, NUL), so that every name has exactly one meaning.
func nameToComponent(name string) (string, error) {
	if name == "" || strings.ContainsAny(name, "\r\n\x00") {
		return "", errBadName
	}
	if !strings.Contains(name, "%") {
		return name, nil
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		if name[i] != '%' {
			b.WriteByte(name[i])
			continue
		}
		switch {
		case strings.HasPrefix(name[i:], "%25"):
			b.WriteByte('%')
		case strings.HasPrefix(name[i:], "%2F"):
			b.WriteByte('/')
		case i == 0 && strings.HasPrefix(name, "%2E") && dotName("."+name[3:]):
			b.WriteByte('.')
		default:
			return "", errBadName
		}
		i += 2
	}
	return b.String(), nil
}
