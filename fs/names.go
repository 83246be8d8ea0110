package fs

import (
	"errors"
	"strings"
)

// A mailbox name component becomes a file name: "/" inside a component
// cannot appear in a file name, so it is shown as %2F, and "%" itself as
// %25 so that the mapping can be undone. Nothing else is escaped.

// componentToName maps one component of a mailbox name (already decoded
// to UTF-8, between two server delimiters) to a file name.
func componentToName(component string) string {
	name := component
	if strings.ContainsAny(component, "%/") {
		name = strings.NewReplacer("%", "%25", "/", "%2F").Replace(component)
	}
	if name == searchDirName || name == sortDirName || name == threadDirName {
		// The names of the virtual directories: a real mailbox called so
		// is shown as %2Esearch, %2Esort, %2Ethread.
		name = "%2E" + name[1:]
	}
	return name
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
		case i == 0 && (name == "%2E"+searchDirName[1:] || name == "%2E"+sortDirName[1:] || name == "%2E"+threadDirName[1:]):
			b.WriteByte('.')
		default:
			return "", errBadName
		}
		i += 2
	}
	return b.String(), nil
}
