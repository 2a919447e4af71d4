package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	"github.com/onsi/gomega"

	"github.com/pushlab/pushlab/conformance/framework"
	_ "github.com/pushlab/pushlab/conformance/specs" // the specs
	"github.com/pushlab/pushlab/server"
)

// Results are a run's per-spec verdicts.
type Results = framework.Results

// Options configure one run of the suite.
type Options struct {
	Config framework.Config
	// LabelFilter and Focus select specs, added to any -ginkgo.label-filter / -ginkgo.focus.
	LabelFilter string
	Focus       []string
	Verbose     bool
	NoColor     bool
	// ServerConfig changes the in-process reference server's configuration (default target only).
	ServerConfig func(*server.Config)
	// Target, when set, is used as is (the caller starts and closes it).
	Target framework.Target
	// Out receives the listings of ListTests and ListLabels (default os.Stdout).
	Out io.Writer
}

// ErrInvalid wraps every problem found before any spec ran: bad options or a faulty spec tree.
var ErrInvalid = errors.New("conformance: invalid run")

// Description is the suite's name in reports.
const Description = "Push Jobs conformance"

// Run runs the suite in this process against the target the options select, and returns the
// verdict of every spec: the caller decides what failed means (Results.Passed is false only
// when a spec failed; an inconclusive spec, failed while the harness itself stalled, is not a
// failure). Ginkgo runs a suite once per process: to test several targets, run a compiled
// suite once per target with Exec.
func Run(o Options) (Results, error) {
	if o.Target == nil {
		if err := o.Config.Validate(); err != nil {
			return Results{}, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	framework.Configure(o.Config, o.ServerConfig)
	framework.UseTarget(o.Target)
	suiteConfig, reporterConfig := ginkgo.GinkgoConfiguration()
	if o.LabelFilter != "" {
		if suiteConfig.LabelFilter != "" {
			suiteConfig.LabelFilter = "(" + suiteConfig.LabelFilter + ") && (" + o.LabelFilter + ")"
		} else {
			suiteConfig.LabelFilter = o.LabelFilter
		}
	}
	suiteConfig.FocusStrings = append(suiteConfig.FocusStrings, o.Focus...)
	if o.Verbose {
		reporterConfig.Verbose = true
	}
	if o.NoColor {
		reporterConfig.NoColor = true
	}
	preview := ginkgo.PreviewSpecs(Description, suiteConfig, reporterConfig)
	if errs := framework.ValidateTree(preview); len(errs) > 0 {
		return Results{}, fmt.Errorf("%w: the spec tree is faulty:\n%w", ErrInvalid, errors.Join(errs...))
	}
	out := o.Out
	if out == nil {
		out = os.Stdout
	}
	if o.Config.ListLabels {
		for _, l := range framework.LabelNames() {
			fmt.Fprintf(out, "%-11s %s\n", l, framework.LabelHelp(l))
		}
		return Results{Passed: true}, nil
	}
	if o.Config.ListTests {
		ListTests(out, preview)
		return Results{Passed: true}, nil
	}
	gomega.RegisterFailHandler(ginkgo.Fail)
	ginkgo.RunSpecs(ignoreFail{}, Description, suiteConfig, reporterConfig)
	return framework.LastResults()
}

// ListTests prints every spec the preview would run: full name, labels, protocol.md section.
func ListTests(w io.Writer, preview types.Report) {
	var lines []string
	for _, s := range preview.SpecReports {
		if s.LeafNodeType != types.NodeTypeIt || s.State == types.SpecStateSkipped {
			continue
		}
		sec := ""
		if e, ok := framework.Lookup(s.ContainerHierarchyTexts, s.LeafNodeText); ok {
			sec = e.Section
		}
		lines = append(lines, fmt.Sprintf("%s\t[%s]\t%s", s.FullText(), strings.Join(s.Labels(), ","), sec))
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}

// Exec runs a compiled suite in a child process and reads the results it wrote into reportDir.
// binary is a pushlab binary (args then start with "conformance" and use --report-dir) or a
// test binary of this package (built by BuildTestBinary, go test -c or ginkgo build; args use
// -conformance.report-dir). The caller puts the report directory into args; a run whose
// specs fail is not an error.
func Exec(ctx context.Context, binary string, args []string, reportDir string, out io.Writer) (Results, error) {
	cmd := exec.CommandContext(ctx, binary, args...)
	if out != nil {
		cmd.Stdout, cmd.Stderr = out, out
	}
	runErr := cmd.Run()
	res, err := framework.ReadResults(reportDir)
	if err != nil {
		if runErr != nil {
			return Results{}, fmt.Errorf("running %s: %w (and no results: %v)", binary, runErr, err)
		}
		return Results{}, fmt.Errorf("reading the results of %s: %w", binary, err)
	}
	return res, nil
}

// BuildTestBinary compiles this package's test binary (the whole suite) into dir and returns
// its path. It needs the Go toolchain and the module's source.
func BuildTestBinary(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "conformance.test")
	cmd := exec.CommandContext(ctx, "go", "test", "-c", "-o", out, "github.com/pushlab/pushlab/conformance")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go test -c: %w\n%s", err, b)
	}
	return out, nil
}

// ignoreFail is the testing.T RunSpecs reports to; Run's results carry the verdicts instead.
type ignoreFail struct{}

func (ignoreFail) Fail() {}
