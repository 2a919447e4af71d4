package mutant

import "testing"

func TestParse(t *testing.T) {
	s, err := Parse([]string{"nack-ignored, output-truncated", ""})
	if err != nil || !s.Has(NackIgnored) || !s.Has(OutputTruncated) || s.Has(SSEOutOfOrder) {
		t.Fatalf("%v %v", s, err)
	}
	if _, err := Parse([]string{"nope"}); err == nil {
		t.Fatal("unknown mutant accepted")
	}
	if len(All()) < 12 {
		t.Fatalf("%d mutants", len(All()))
	}
	for _, n := range All() {
		if Describe(n) == "" {
			t.Fatalf("%s has no description", n)
		}
	}
}
