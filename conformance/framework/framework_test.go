package framework

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/types"
)

func TestConfigFlagsAndValidation(t *testing.T) {
	c := DefaultConfig()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"-conformance.url=https://push.example.com", "-conformance.profile=docs", "-conformance.voting-timeout=5s"}); err != nil {
		t.Fatal(err)
	}
	if c.URL != "https://push.example.com" || c.Profile != ProfileDocs || c.VotingTimeout != 5*time.Second {
		t.Fatalf("flags not applied: %+v", c)
	}
	err := c.Validate()
	if err == nil {
		t.Fatal("a URL without org, key and node clients passed validation")
	}
	for _, want := range []string{"-conformance.org is required", "-conformance.user and -conformance.key are required", "-conformance.superuser-key or -conformance.client-keys-dir"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("validation error lacks %q: %v", want, err)
		}
	}

	dir := t.TempDir()
	key := filepath.Join(dir, "admin.pem")
	if err := os.WriteFile(key, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := DefaultConfig()
	good.URL, good.Org, good.KeyPath, good.ClientKeysDir = "http://127.0.0.1:10003", "acme", key, dir
	if err := good.Validate(); err != nil {
		t.Fatalf("a complete URL configuration failed: %v", err)
	}
	def := DefaultConfig()
	if err := def.Validate(); err != nil {
		t.Fatalf("the default configuration failed: %v", err)
	}

	bad := DefaultConfig()
	bad.URL, bad.Image, bad.Profile, bad.LoadNodes, bad.KeepAlive = "http://h/x", "img", "nope", 3, 0
	bad.FlagName = func(n string) string { return "--" + n }
	err = bad.Validate()
	for _, want := range []string{"--url and --image exclude each other", "without a path", `--profile "nope"`, "--load-nodes must be at least 10", "--keepalive must be positive"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validation error lacks %q: %v", want, err)
		}
	}
}

func TestLabelRegistryIsClosed(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("an unknown label did not panic")
		}
	}()
	if got := Label("api", "smoke"); len(got) != 2 {
		t.Fatalf("labels %v", got)
	}
	Label("fast")
}

func spec(texts []string, leaf string, labels ...string) types.SpecReport {
	return types.SpecReport{LeafNodeType: types.NodeTypeIt, ContainerHierarchyTexts: texts, LeafNodeText: leaf,
		LeafNodeLabels: labels, LeafNodeLocation: types.CodeLocation{FileName: "x.go", LineNumber: 1}, ContainerHierarchyLabels: make([][]string, len(texts))}
}

func TestValidateTree(t *testing.T) {
	SetCatalogue([]CatalogueEntry{{Path: []string{"A", "b"}, Section: "§2"}, {Path: []string{"A", "table"}, Section: "§6"}})
	defer SetCatalogue(nil)
	r := types.Report{SpecReports: types.SpecReports{
		spec([]string{"A"}, "b", "api"),
		spec([]string{"A", "table"}, "entry one", "sse", "Serial"),
		spec([]string{"A"}, "b", "api"),
		spec([]string{"A"}, "c", "smoke"),
		spec([]string{"A"}, "d [load]", "bogus", "api"),
	}}
	var all []string
	for _, e := range ValidateTree(r) {
		all = append(all, e.Error())
	}
	joined := strings.Join(all, "\n")
	for _, want := range []string{`spec name "A b" repeats`, `"A c" has no area label`, `"A c" has no catalogue entry`, `label "bogus" is not in the registry`, `writes the label "load" in its text`} {
		if !strings.Contains(joined, want) {
			t.Errorf("no problem %q in:\n%s", want, joined)
		}
	}
	if strings.Contains(joined, "entry one") {
		t.Errorf("a table entry of a catalogued table was reported:\n%s", joined)
	}
}

func TestResultsAndSummary(t *testing.T) {
	SetCatalogue([]CatalogueEntry{{Path: []string{"Jobs", "fail"}, Section: "§5.3", Must: "A job completes.", Supersedes: "jobs_spec.rb"}})
	defer SetCatalogue(nil)
	pass := spec([]string{"Jobs"}, "pass", "api")
	pass.State = types.SpecStatePassed
	nonStrict := spec([]string{"Jobs"}, "reading", "api")
	nonStrict.State = types.SpecStatePassed
	nonStrict.ReportEntries = types.ReportEntries{{Name: NonStrictEntry, Value: types.WrapEntryValue("item 4")}}
	fail := spec([]string{"Jobs"}, "fail", "api")
	fail.State = types.SpecStateFailed
	fail.Failure = types.Failure{Message: "expected complete\ngot quorum_failed", Location: types.CodeLocation{FileName: "jobs.go", LineNumber: 9}}
	stalled := spec([]string{"Jobs"}, "stalled", "load")
	stalled.State = types.SpecStateFailed
	stalled.ReportEntries = types.ReportEntries{{Name: InconclusiveEntry, Value: types.WrapEntryValue("stalled 2s")}}
	skipped := spec([]string{"Jobs"}, "skipped", "auth")
	skipped.State = types.SpecStateSkipped

	res := ResultsFromReport(types.Report{SpecReports: types.SpecReports{pass, nonStrict, fail, stalled, skipped}})
	if res.Passed || res.SetupFailed {
		t.Fatalf("passed %v setup failed %v", res.Passed, res.SetupFailed)
	}
	for verdict, n := range map[string]int{VerdictPass: 1, VerdictNonStrict: 1, VerdictFail: 1, VerdictInconclusive: 1, VerdictSkip: 1} {
		if res.Count(verdict) != n {
			t.Errorf("%d %s, want %d", res.Count(verdict), verdict, n)
		}
	}
	sum := res.Summary()
	for _, want := range []string{"1 passed, 1 non-strict, 1 failed, 1 inconclusive, 1 skipped", "Failures by protocol.md section: §5.3 (1)",
		"FAIL Jobs fail", "must:       A job completes.", "supersedes: jobs_spec.rb", "jobs.go:9", "NON-STRICT Jobs reading", "INCONCLUSIVE Jobs stalled"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}

	setup := types.SpecReport{LeafNodeType: types.NodeTypeBeforeSuite, State: types.SpecStateFailed, Failure: types.Failure{Message: "unreachable"}}
	res = ResultsFromReport(types.Report{SpecReports: types.SpecReports{setup}})
	if !res.SetupFailed || res.Passed {
		t.Fatalf("a failed BeforeSuite: %+v", res)
	}

	dir := t.TempDir()
	if err := WriteReports(types.Report{SuiteDescription: "x", SpecReports: types.SpecReports{pass, fail}}, dir); err != nil {
		t.Fatal(err)
	}
	back, err := ReadResults(dir)
	if err != nil || len(back.Specs) != 2 || back.Passed {
		t.Fatalf("results read back: %+v, %v", back, err)
	}
	for _, f := range []string{JUnitFile, JSONFile, SummaryFile} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
}

func TestTimingsScaleWithTheHeartbeat(t *testing.T) {
	set := Settings{VotingTimeout: 60 * time.Second}
	fast, slow := NewTimings(500*time.Millisecond, set), NewTimings(10*time.Second, set)
	if fast.Job != 15*time.Second || slow.Job != 300*time.Second {
		t.Errorf("job timings %s and %s", fast.Job, slow.Job)
	}
	if fast.Voting != 75*time.Second || fast.NodeUp != 10*time.Second || slow.Quiet != 30*time.Second || fast.Poll != 125*time.Millisecond || slow.Poll != 250*time.Millisecond {
		t.Errorf("timings %+v / %+v", fast, slow)
	}
}
