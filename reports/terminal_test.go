package reports

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*m`)

func TestSummaryGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleReport().WriteSummary(&buf, SummaryOptions{}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	golden(t, "summary.golden", buf.Bytes())
	if strings.Contains(out, "\x1b") {
		t.Error("plain summary holds an escape character")
	}
	for _, want := range []string{
		"✓ job feed order and completeness §6",
		"✗ node statuses match the oracle §5.6",
		"997/1000",
		"↷ captured output matches byte for byte §6",
		`\x1b[31m<script>`, // server text is escaped, never interpreted
		"✗ 'max<3s' max=3.4s",
		"✓ 'rate<0.01' rate=0.2%",
		"VERDICT: FAIL (exit 1) — 1 of 4 checks failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
}

func TestSummaryColourIsOnlyDecoration(t *testing.T) {
	r := sampleReport()
	var plain, colour bytes.Buffer
	if err := r.WriteSummary(&plain, SummaryOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteSummary(&colour, SummaryOptions{Color: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(colour.String(), "\x1b[31m✗\x1b[0m") {
		t.Error("no red ✗ in the coloured summary")
	}
	if got := ansi.ReplaceAllString(colour.String(), ""); got != plain.String() {
		t.Errorf("coloured summary without its colours differs from the plain one:\n%s", got)
	}
}

func TestSummaryVariants(t *testing.T) {
	r := NewReport(Scenario{Name: "many"}, Target{Kind: TargetURL, URL: "https://pushy.example", Org: "acme"})
	for i := 0; i < 40; i++ {
		r.Pass(fmt.Sprintf("c%02d", i), fmt.Sprintf("check %d", i), "")
	}
	r.Fail("bad", "the bad one", "2.5", "line one\nline two", Evidence{Kind: EvidenceNode, Node: "n1"}, Evidence{Kind: EvidenceNode, Node: "n2"})
	r.Health.Problems = []string{"the fleet lagged"}
	r.Finish(r.Start)
	var buf bytes.Buffer
	if err := r.WriteSummary(&buf, SummaryOptions{MaxEvidence: 1}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"(40 passed checks not listed)", "↳ line one", "  line two", "node · node n1", "… and 1 more",
		"target:   https://pushy.example, org acme", "! the fleet lagged", "VERDICT: INCONCLUSIVE (exit 2)"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "check 7 ") {
		t.Error("passed check listed although there are more than 30")
	}
	buf.Reset()
	r.WriteSummary(&buf, SummaryOptions{AllChecks: true})
	if !strings.Contains(buf.String(), "✓ check 7 ") {
		t.Error("AllChecks did not list passed checks")
	}
}

func TestUseColor(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	t.Setenv("TERM", "xterm-256color")
	var buf bytes.Buffer
	if UseColor(&buf) {
		t.Error("colour for a buffer")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if UseColor(f) {
		t.Error("colour for a regular file")
	}
	tty := openPTY(t)
	if tty == nil {
		return
	}
	if !UseColor(tty) {
		t.Error("no colour for a terminal")
	}
	noColor := func(k string) (string, bool) {
		if k == "NO_COLOR" {
			return "yes", true
		}
		return "", false
	}
	if ColorEnabled(tty, noColor) {
		t.Error("colour although the injected environment sets NO_COLOR")
	}
	t.Setenv("NO_COLOR", "1")
	if UseColor(tty) {
		t.Error("colour on a terminal although NO_COLOR is set")
	}
	t.Setenv("NO_COLOR", "")
	t.Setenv("TERM", "dumb")
	if UseColor(tty) {
		t.Error("colour on a dumb terminal")
	}
}

// openPTY opens the follower side of a new pseudo-terminal, or skips when there is none.
func openPTY(t *testing.T) *os.File {
	t.Helper()
	leader, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
		return nil
	}
	t.Cleanup(func() { leader.Close() })
	if err := unix.IoctlSetPointerInt(int(leader.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(leader.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Skipf("pty number: %v", err)
	}
	follower, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open pty: %v", err)
	}
	t.Cleanup(func() { follower.Close() })
	return follower
}
