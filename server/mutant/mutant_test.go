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
	for _, n := range append(All(), Slowdowns()...) {
		if Describe(n) == "" {
			t.Fatalf("%s has no description", n)
		}
	}
	if s, err := Parse([]string{"slow-commit"}); err != nil || !s.Has(SlowCommit) {
		t.Fatalf("a slowdown is not parsed: %v %v", s, err)
	}
	for _, n := range All() {
		if n == SlowCommit {
			t.Fatal("All lists a slowdown: the conformance suite would have to catch it")
		}
	}
}
