package conformance_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushlab/pushlab/conformance"
	"github.com/pushlab/pushlab/conformance/framework"
	"github.com/pushlab/pushlab/server/mutant"
)

// mutantAreas narrows each mutant's run to the labels of the protocol area it breaks, so the
// suite reaches a spec that notices it quickly. The suite runs with fail-fast: the first failed
// spec ends the run. Every mutant of server/mutant must have an entry.
var mutantAreas = map[mutant.Name]string{
	mutant.QuorumFailedAsComplete: "liveness && !slow",
	mutant.SSEOutOfOrder:          "sse && !slow",
	mutant.SSEDuplicateIDs:        "sse && !slow",
	mutant.OutputTruncated:        "output",
	mutant.NackIgnored:            "liveness && !slow",
	mutant.CrashedLeftRunning:     "(liveness || chaos) && !load",
	mutant.Wrong400Message:        "api",
	mutant.BadSignatureAccepted:   "auth",
	mutant.LastEventIDIgnored:     "sse && !slow",
	mutant.DeadNodeStaysAvailable: "liveness",
	mutant.VotingEndsEarly:        "liveness && !slow",
	mutant.WasReadyMissing:        "liveness && !slow",
}

// TestMutantsAreCaught runs the suite against the reference server with each deliberate fault
// of server/mutant, in a child process per mutant (this test binary, running TestConformance),
// and requires at least one spec to fail for each: a suite that cannot fail proves nothing.
func TestMutantsAreCaught(t *testing.T) {
	switch {
	case updateCatalogue:
		t.Skip("regenerating the catalogue")
	case !cfg.InProcess():
		t.Skip("mutants are faults of the in-process reference server; this run has another target")
	case len(cfg.Mutants) > 0:
		t.Skip("this process is itself a mutant run")
	case testing.Short():
		t.Skip("-short")
	}
	for _, m := range mutant.All() {
		if mutantAreas[m] == "" {
			t.Errorf("mutant %s has no area in mutantAreas", m)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	type outcome struct {
		res  conformance.Results
		err  error
		log  string
		took time.Duration
	}
	all := mutant.All()
	out := make([]outcome, len(all))
	sem := make(chan struct{}, 2) // two cores: two suites at a time
	var wg sync.WaitGroup
	for i, m := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			start := time.Now()
			res, log, err := runMutant(t, m, mutantAreas[m])
			if err == nil && res.Count(framework.VerdictFail) == 0 && res.Count(framework.VerdictInconclusive) > 0 {
				// The machine stalled while a spec failed: judge again, alone.
				res, log, err = runMutant(t, m, mutantAreas[m])
			}
			out[i] = outcome{res, err, log, time.Since(start)}
		}()
	}
	wg.Wait()
	for i, m := range all {
		t.Run(string(m), func(t *testing.T) {
			o := out[i]
			if o.err != nil {
				t.Fatalf("%v\n%s", o.err, tail(o.log, 40))
			}
			failed := o.res.Failed()
			if o.res.SetupFailed || len(failed) == 0 {
				t.Fatalf("no spec failed against mutant %s (%s) with label filter %q: the suite does not catch it\n%s",
					m, mutant.Describe(m), mutantAreas[m], tail(o.log, 40))
			}
			t.Logf("caught in %s by %q (%s)", o.took.Round(time.Second), failed[0].Name, failed[0].Section)
		})
	}
}

// runMutant runs this test binary's TestConformance against a reference server with one mutant,
// stopping at the first failed spec.
func runMutant(t *testing.T, m mutant.Name, labels string) (conformance.Results, string, error) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	args := []string{
		"-test.run=^TestConformance$",
		"-" + framework.FlagPrefix + "mutants=" + string(m),
		"-" + framework.FlagPrefix + "report-dir=" + dir,
		"-" + framework.FlagPrefix + "label-filter=" + labels,
		"-ginkgo.fail-fast",
		"-ginkgo.seed=1",
		"-ginkgo.no-color",
	}
	var log bytes.Buffer
	res, err := conformance.Exec(ctx, os.Args[0], args, dir, &log)
	if err != nil {
		return res, log.String(), fmt.Errorf("mutant %s: %w", m, err)
	}
	if _, serr := os.Stat(filepath.Join(dir, "results.json")); serr != nil {
		return res, log.String(), fmt.Errorf("mutant %s: %w", m, serr)
	}
	return res, log.String(), nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
