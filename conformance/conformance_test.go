package conformance_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"

	"github.com/pushlab/pushlab/conformance"
	"github.com/pushlab/pushlab/conformance/catalogue"
	"github.com/pushlab/pushlab/conformance/framework"
)

var (
	cfg             = framework.DefaultConfig()
	labelFilter     string
	updateCatalogue bool
)

// TestMain reads the suite's flags (-conformance.*), refuses stray arguments and checks the
// configuration before any spec runs.
func TestMain(m *testing.M) {
	cfg.RegisterFlags(flag.CommandLine)
	flag.StringVar(&labelFilter, framework.FlagPrefix+"label-filter", "", "run only specs matching this Ginkgo label filter (also -ginkgo.label-filter)")
	flag.BoolVar(&updateCatalogue, framework.FlagPrefix+"update-catalogue", false, "rewrite docs/conformance.md and the compiled-in catalogue")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "conformance: unexpected arguments %q (flags are -%sNAME=VALUE)\n", flag.Args(), framework.FlagPrefix)
		os.Exit(2)
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "conformance: %v\n", err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// TestConformance runs the suite against the configured target (default: an in-process
// reference server).
func TestConformance(t *testing.T) {
	if updateCatalogue {
		t.Skip("regenerating the catalogue")
	}
	res, err := conformance.Run(conformance.Options{Config: cfg, LabelFilter: labelFilter})
	if err != nil {
		t.Fatal(err)
	}
	if n := res.Count(framework.VerdictInconclusive); n > 0 {
		t.Logf("%d spec(s) inconclusive: the machine was too loaded to judge them (see the summary)", n)
	}
	if !res.Passed {
		t.Errorf("%d spec(s) failed", res.Count(framework.VerdictFail))
	}
}

// TestCatalogue checks that docs/conformance.md and the compiled-in catalogue are generated
// from the current spec comments (with -conformance.update-catalogue it rewrites them).
func TestCatalogue(t *testing.T) {
	units, errs := catalogue.Walk("specs")
	for _, err := range errs {
		t.Error(err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	stats := previewStats(t, units)
	help := map[string]string{}
	for _, l := range framework.LabelNames() {
		help[l] = framework.LabelHelp(l)
	}
	md := catalogue.Markdown(units, stats, help)
	src, err := catalogue.Go("specs", units)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{filepath.Join("..", "docs", "conformance.md"): md, filepath.Join("specs", "zz_catalogue.go"): src}
	for path, want := range files {
		if updateCatalogue {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is not current: run go generate ./conformance", path)
		}
	}
	total := 0
	for _, st := range stats {
		total += st.Examples
	}
	t.Logf("%d units, %d specs", len(units), total)
}

// previewStats counts the examples and labels of every unit from the whole spec tree.
func previewStats(t *testing.T, units []catalogue.Unit) map[string]catalogue.Stats {
	t.Helper()
	sc, rc := ginkgo.GinkgoConfiguration()
	all := types.NewDefaultSuiteConfig()
	preview := ginkgo.PreviewSpecs(conformance.Description, all, rc)
	ginkgo.PreviewSpecs(conformance.Description, sc, rc) // put the configured filters back
	keys := map[string]bool{}
	for _, u := range units {
		keys[u.Key()] = true
	}
	stats := map[string]catalogue.Stats{}
	labels := map[string]map[string]bool{}
	for _, s := range preview.SpecReports {
		if s.LeafNodeType != types.NodeTypeIt {
			continue
		}
		full := catalogue.Unit{Path: append(append([]string{}, s.ContainerHierarchyTexts...), s.LeafNodeText)}.Key()
		key := full
		if !keys[key] {
			key = catalogue.Unit{Path: s.ContainerHierarchyTexts}.Key()
		}
		if !keys[key] {
			t.Errorf("%s: %q has no structured comment", s.LeafNodeLocation, s.FullText())
			continue
		}
		st := stats[key]
		st.Examples++
		if st.ByLabel == nil {
			st.ByLabel = map[string]int{}
		}
		if labels[key] == nil {
			labels[key] = map[string]bool{}
		}
		for _, l := range s.Labels() {
			labels[key][l] = true
			st.ByLabel[l]++
		}
		stats[key] = st
	}
	for k, ls := range labels {
		st := stats[k]
		for l := range ls {
			st.Labels = append(st.Labels, l)
		}
		sort.Strings(st.Labels)
		stats[k] = st
	}
	return stats
}

// TestSpecTree validates the tree as Run does: registered labels, an area per spec, unique
// names, a catalogue entry for every spec.
func TestSpecTree(t *testing.T) {
	sc, rc := ginkgo.GinkgoConfiguration()
	preview := ginkgo.PreviewSpecs(conformance.Description, types.NewDefaultSuiteConfig(), rc)
	ginkgo.PreviewSpecs(conformance.Description, sc, rc)
	for _, err := range framework.ValidateTree(preview) {
		t.Error(err)
	}
}
