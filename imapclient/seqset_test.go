package imapclient

import (
	"slices"
	"testing"
)

func TestParseSeqSet(t *testing.T) {
	for in, want := range map[string]SeqSet{
		"1":          {{1, 1}},
		"*":          {{SeqStar, SeqStar}},
		"1:5,7,9:*":  {{1, 5}, {7, 7}, {9, SeqStar}},
		"5:2":        {{5, 2}},
		"*:4":        {{SeqStar, 4}},
		"3,1":        {{3, 3}, {1, 1}},
		"4294967295": {{4294967295, 4294967295}},
	} {
		got, err := ParseSeqSet(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("ParseSeqSet(%q) = %v, %v; want %v", in, got, err, want)
		}
		if got.String() != in {
			t.Errorf("ParseSeqSet(%q).String() = %q", in, got.String())
		}
	}
	for _, in := range []string{"", "0", "1:0", ",", "1,", ":", "1:2:3", "a", "-1", "+1", "4294967296", "1 2", "**"} {
		if got, err := ParseSeqSet(in); err == nil {
			t.Errorf("ParseSeqSet(%q) = %v, want an error", in, got)
		}
	}
}

func TestSeqSetAdd(t *testing.T) {
	var s SeqSet
	s.AddNum(1, 2, 3, 4, 5, 7)
	s.AddRange(9, SeqStar)
	s.AddNum(12)
	if got := s.String(); got != "1:5,7,9:*" {
		t.Fatalf("built %q", got)
	}
	var desc SeqSet
	desc.AddNum(3, 2, 1)
	if got := desc.String(); got != "3,2,1" {
		t.Fatalf("descending adds must keep their order: %q", got)
	}
	var empty SeqSet
	if empty.String() != "" {
		t.Fatal("empty set")
	}
}

func TestSeqSetCompact(t *testing.T) {
	for in, want := range map[string]string{
		"9:*,1:3,2:5,7":   "1:5,7,9:*",
		"5:2,6,1":         "1:6",
		"*,3:*":           "3:*",
		"*,4":             "4,*",
		"1,3,5":           "1,3,5",
		"4294967295,1:*":  "1:*",
		"10:12,1,11:20,2": "1:2,10:20",
	} {
		set, _ := ParseSeqSet(in)
		if got := set.Compact().String(); got != want {
			t.Errorf("Compact(%q) = %q, want %q", in, got, want)
		}
		if set.String() != in {
			t.Errorf("Compact changed its receiver to %q", set)
		}
	}
}

func TestSeqSetContains(t *testing.T) {
	set, _ := ParseSeqSet("1:5,7,20:*,12:10")
	for n, want := range map[uint32]bool{1: true, 5: true, 6: false, 7: true, 9: false, 10: true, 11: true, 13: false, 20: true, 4294967295: true} {
		if got := set.Contains(n); got != want {
			t.Errorf("Contains(%d) = %v", n, got)
		}
	}
	star, _ := ParseSeqSet("*")
	if star.Contains(4294967295) || !star.Dynamic() {
		t.Error("a lone * holds an unknown number")
	}
}

func TestSeqSetAll(t *testing.T) {
	set, _ := ParseSeqSet("304,319:320,5:3")
	if got := slices.Collect(set.All()); !slices.Equal(got, []uint32{304, 319, 320, 3, 4, 5}) {
		t.Fatalf("All = %v", got)
	}
	huge, _ := ParseSeqSet("1:4294967295")
	var first []uint32
	for n := range huge.All() {
		if first = append(first, n); len(first) == 3 {
			break
		}
	}
	if !slices.Equal(first, []uint32{1, 2, 3}) {
		t.Fatalf("stopping early: %v", first)
	}
	dynamic, _ := ParseSeqSet("1:3,5:*")
	if got := slices.Collect(dynamic.All()); len(got) != 0 {
		t.Fatalf("a dynamic set yielded %v", got)
	}
	if set.Dynamic() {
		t.Fatal("a static set is dynamic")
	}
}
