package imapclient

import (
	"cmp"
	"errors"
	"iter"
	"slices"
	"strconv"
	"strings"
)

// SeqStar stands for "*" in a SeqRange: the largest number in use in the
// mailbox, which the client does not know. Order-wise it counts as larger
// than every number.
const SeqStar uint32 = 0

// SeqRange is the range Start:Stop, both included, in either order as
// IMAP allows; a single number has Start == Stop.
type SeqRange struct{ Start, Stop uint32 }

// SeqSet is a set of message sequence numbers or UIDs, written "1:5,7,9:*"
// on the wire. Ranges keep the order they were given in, on which COPYUID
// relies to pair source and destination UIDs; Compact sorts and merges them.
type SeqSet []SeqRange

// starValue is where SeqStar sorts: above every 32-bit number.
const starValue = 1 << 32

func value(n uint32) uint64 {
	if n == SeqStar {
		return starValue
	}
	return uint64(n)
}

func fromValue(v uint64) uint32 {
	if v == starValue {
		return SeqStar
	}
	return uint32(v)
}

// bounds returns the range's low and high ends as comparable values.
func (r SeqRange) bounds() (lo, hi uint64) {
	lo, hi = value(r.Start), value(r.Stop)
	return min(lo, hi), max(lo, hi)
}

// ParseSeqSet parses a sequence set such as "1:5,7,9:*".
func ParseSeqSet(s string) (SeqSet, error) {
	var set SeqSet
	for item := range strings.SplitSeq(s, ",") {
		start, stop, isRange := strings.Cut(item, ":")
		first, err := parseSeqNumber(start)
		last := first
		if err == nil && isRange {
			last, err = parseSeqNumber(stop)
		}
		if err != nil {
			return nil, errors.New("imap: bad sequence set " + strconv.Quote(s))
		}
		set = append(set, SeqRange{first, last})
	}
	return set, nil
}

func parseSeqNumber(s string) (uint32, error) {
	if s == "*" {
		return SeqStar, nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err == nil && n == 0 {
		err = errors.New("zero")
	}
	return uint32(n), err
}

// String writes the set as IMAP does; an empty set is "".
func (s SeqSet) String() string {
	var b []byte
	for i, r := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendSeqNumber(b, r.Start)
		if r.Stop != r.Start {
			b = appendSeqNumber(append(b, ':'), r.Stop)
		}
	}
	return string(b)
}

func appendSeqNumber(b []byte, n uint32) []byte {
	if n == SeqStar {
		return append(b, '*')
	}
	return strconv.AppendUint(b, uint64(n), 10)
}

// AddNum adds numbers (SeqStar for "*"). Numbers added in ascending order
// grow the last range, so the set stays compact as it is built.
func (s *SeqSet) AddNum(nums ...uint32) {
	for _, n := range nums {
		s.AddRange(n, n)
	}
}

// AddRange adds the range start:stop, merging it into the last range when
// it overlaps or directly follows it.
func (s *SeqSet) AddRange(start, stop uint32) {
	added := SeqRange{start, stop}
	if n := len(*s); n > 0 {
		lastLo, lastHi := (*s)[n-1].bounds()
		lo, hi := added.bounds()
		if lo >= lastLo && lo <= lastHi+1 {
			(*s)[n-1] = SeqRange{fromValue(lastLo), fromValue(max(hi, lastHi))}
			return
		}
	}
	*s = append(*s, added)
}

// Contains reports whether the set holds the non-zero number n. A range
// ending in "*" holds every number from its start up.
func (s SeqSet) Contains(n uint32) bool {
	v := value(n)
	for _, r := range s {
		if lo, hi := r.bounds(); lo <= v && v <= hi {
			return true
		}
	}
	return false
}

// Dynamic reports whether the set uses "*", whose value only the server
// knows.
func (s SeqSet) Dynamic() bool {
	for _, r := range s {
		if r.Start == SeqStar || r.Stop == SeqStar {
			return true
		}
	}
	return false
}

// Compact returns the set sorted, with overlapping and adjacent ranges
// merged: "9:*,1:3,2:5,7" becomes "1:5,7,9:*".
func (s SeqSet) Compact() SeqSet {
	sorted := slices.Clone(s)
	slices.SortFunc(sorted, func(a, b SeqRange) int {
		alo, _ := a.bounds()
		blo, _ := b.bounds()
		return cmp.Compare(alo, blo)
	})
	var out SeqSet
	for _, r := range sorted {
		lo, hi := r.bounds()
		out.AddRange(fromValue(lo), fromValue(hi))
	}
	return out
}

// All yields the numbers of a static set in set order, each range in
// ascending order. It yields nothing for a Dynamic set. Being lazy, it
// lets a caller stop at the count it expects even when a hostile server
// sends a set of billions.
func (s SeqSet) All() iter.Seq[uint32] {
	return func(yield func(uint32) bool) {
		if s.Dynamic() {
			return
		}
		for _, r := range s {
			lo, hi := r.bounds()
			for v := lo; v <= hi; v++ {
				if !yield(uint32(v)) {
					return
				}
			}
		}
	}
}

// count is how many numbers the set holds; a range with "*" counts as its
// explicit end, which is what VANISHED (never using "*") needs.
func (s SeqSet) count() uint32 {
	var n uint64
	for _, r := range s.Compact() {
		lo, hi := r.bounds()
		hi = min(hi, 1<<32-1)
		if hi >= lo {
			n += hi - lo + 1
		}
	}
	return uint32(min(n, 1<<32-1))
}
