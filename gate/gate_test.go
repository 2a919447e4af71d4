package gate

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/pushlab/pushlab/reports"
	"github.com/pushlab/pushlab/scenarios"
)

func TestValidate(t *testing.T) {
	load := func() (*scenarios.Scenario, error) { return nil, errors.New("not loaded") }
	reps := Side{Name: "baseline", Reports: []string{"a.json"}}
	bin := Side{Name: "candidate", Binary: "pushlab"}
	for _, c := range []struct {
		name       string
		p          Plan
		base, cand Side
		ok         bool
	}{
		{"reports both", Plan{}, reps, Side{Name: "candidate", Reports: []string{"b.json"}}, true},
		{"a side runs", Plan{Load: load}, reps, bin, true},
		{"a side runs without a scenario", Plan{}, reps, bin, false},
		{"a scenario and nothing to run", Plan{Load: load}, reps, Side{Name: "candidate", Reports: []string{"b.json"}}, false},
		{"a side missing", Plan{}, reps, Side{Name: "candidate"}, false},
		{"a side twice", Plan{Load: load}, reps, Side{Name: "candidate", Binary: "pushlab", Image: "pushlab:dev"}, false},
		{"server arguments of reports", Plan{}, reps, Side{Name: "candidate", Reports: []string{"b.json"}, ServerArgs: []string{"--x"}}, false},
		{"negative runs", Plan{Load: load, Runs: -1}, reps, bin, false},
	} {
		err := Validate(c.p, c.base, c.cand)
		if (err == nil) != c.ok || err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// TestExecuteReadsReports: sides given as reports are read, nothing runs.
func TestExecuteReadsReports(t *testing.T) {
	dir := t.TempDir()
	write := func(name string) string {
		r := reports.NewReport(reports.Scenario{Name: "smoke"}, reports.Target{Kind: reports.TargetEmbedded})
		r.Pass("c", "check", "5.3")
		r.Finish(r.Start)
		path := filepath.Join(dir, name)
		if err := r.Write(path); err != nil {
			t.Fatal(err)
		}
		return path
	}
	base := Side{Name: "baseline", Reports: []string{write("b1.json"), write("b2.json")}}
	cand := Side{Name: "candidate", Reports: []string{write("c1.json")}}
	out, err := Execute(context.Background(), Plan{}, base, cand)
	if err != nil || len(out.Baseline) != 2 || len(out.Candidate) != 1 || len(out.Runs) != 0 {
		t.Fatalf("%+v %v", out, err)
	}
	cand.Reports = []string{filepath.Join(dir, "missing.json")}
	if _, err := Execute(context.Background(), Plan{}, base, cand); err == nil || errors.Is(err, ErrInvalid) {
		t.Fatalf("a missing report: %v", err)
	}
}
