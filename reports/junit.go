package reports

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// JUnit XML in the common schema Jenkins and GitLab read: <testsuites> holding one <testsuite>
// per report and one <testcase> per check (and per threshold); a failed check is a <failure> whose
// text is its message and evidence; a skipped check is <skipped>; a harness error is an <error>.

// JUnitSuites is the <testsuites> root element.
type JUnitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []JUnitSuite `xml:"testsuite"`
}

// JUnitSuite is one <testsuite>.
type JUnitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Hostname   string          `xml:"hostname,attr,omitempty"`
	ID         int             `xml:"id,attr"`
	Package    string          `xml:"package,attr,omitempty"`
	Properties []JUnitProperty `xml:"properties>property,omitempty"`
	Cases      []JUnitCase     `xml:"testcase"`
	SystemOut  *JUnitText      `xml:"system-out,omitempty"`
	SystemErr  *JUnitText      `xml:"system-err,omitempty"`
}

// JUnitText is the text of <system-out> or <system-err>, written as CDATA so that it stays
// readable.
type JUnitText struct {
	Text string `xml:",cdata"`
}

func junitText(s string) *JUnitText {
	if s == "" {
		return nil
	}
	return &JUnitText{Text: xmlSafe(s)}
}

// JUnitProperty is one <property>.
type JUnitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// JUnitCase is one <testcase>.
type JUnitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Skipped   *JUnitMessage `xml:"skipped,omitempty"`
	Error     *JUnitMessage `xml:"error,omitempty"`
	Failure   *JUnitMessage `xml:"failure,omitempty"`
	SystemOut *JUnitText    `xml:"system-out,omitempty"`
}

// JUnitMessage is a <failure>, <error> or <skipped> element; its text is CDATA.
type JUnitMessage struct {
	Message string `xml:"message,attr,omitempty"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",cdata"`
}

// WriteJUnit writes the report as JUnit XML.
func (r *Report) WriteJUnit(w io.Writer) error { return WriteJUnit(w, r) }

// WriteJUnit writes reports as one JUnit XML document, one testsuite per report.
func WriteJUnit(w io.Writer, reports ...*Report) error {
	root := JUnitSuites{Name: "pushlab"}
	var total time.Duration
	for i, r := range reports {
		s := r.JUnitSuite(i)
		root.Tests += s.Tests
		root.Failures += s.Failures
		root.Errors += s.Errors
		total += r.Duration()
		root.Suites = append(root.Suites, s)
	}
	root.Time = junitSeconds(total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(root); err != nil {
		return fmt.Errorf("encode junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// JUnitSuite is the report as one <testsuite> with the given id.
func (r *Report) JUnitSuite(id int) JUnitSuite {
	name := r.Scenario.Name
	if name == "" {
		name = "pushlab"
	}
	s := JUnitSuite{
		Name:    name,
		ID:      id,
		Package: "pushlab",
		Time:    junitSeconds(r.Duration()),
	}
	if !r.Start.IsZero() {
		s.Timestamp = r.Start.UTC().Format("2006-01-02T15:04:05")
	}
	prop := func(k, v string) {
		if v != "" {
			s.Properties = append(s.Properties, JUnitProperty{Name: k, Value: v})
		}
	}
	prop("schema", Schema)
	prop("pushlab.version", r.Tool.Version)
	prop("scenario.file", r.Scenario.File)
	prop("seed", strconv.FormatInt(r.Scenario.Seed, 10))
	prop("target", r.Target.String())
	prop("verdict", string(r.Verdict))
	prop("exit_code", strconv.Itoa(r.ExitCode))
	prop("reason", r.Reason)

	class := "pushlab." + slugOr(name, "run")
	for _, c := range r.Checks {
		tc := JUnitCase{
			Name:      checkLabel(c),
			Classname: class + ".checks",
			Time:      junitSeconds(c.Duration.D()),
		}
		switch c.Status {
		case StatusFail:
			s.Failures++
			tc.Failure = &JUnitMessage{Message: firstLine(c.Message), Type: "check", Text: xmlSafe(r.failureText(c))}
		case StatusSkip:
			s.Skipped++
			tc.Skipped = &JUnitMessage{Message: c.Message}
		}
		if c.Passes+c.Fails > 0 {
			tc.SystemOut = junitText(fmt.Sprintf("%d passed, %d failed", c.Passes, c.Fails))
		}
		s.Cases = append(s.Cases, tc)
	}
	for _, t := range r.Thresholds {
		tc := JUnitCase{
			Name:      t.Metric + " " + t.Expression,
			Classname: class + ".thresholds",
			Time:      "0",
			SystemOut: junitText(thresholdObserved(t)),
		}
		if !t.OK {
			s.Failures++
			tc.Failure = &JUnitMessage{Message: "threshold crossed: " + thresholdObserved(t), Type: "threshold",
				Text: xmlSafe(t.Metric + " '" + t.Expression + "' " + thresholdObserved(t))}
		}
		s.Cases = append(s.Cases, tc)
	}
	if r.Error != "" || r.Verdict == VerdictInconclusive || r.Verdict == VerdictInvalid {
		tc := JUnitCase{Name: "run", Classname: class, Time: junitSeconds(r.Duration())}
		switch {
		case r.Error != "" || r.Verdict == VerdictInvalid:
			s.Errors++
			text := r.Error
			if text == "" {
				text = r.Reason
			}
			tc.Error = &JUnitMessage{Message: firstLine(text), Type: string(r.Verdict), Text: xmlSafe(text)}
		default:
			s.Errors++
			tc.Error = &JUnitMessage{Message: r.Reason, Type: "inconclusive", Text: xmlSafe(strings.Join(r.Health.Problems, "\n"))}
		}
		s.Cases = append(s.Cases, tc)
	}
	s.Tests = len(s.Cases)
	if len(r.Notes) > 0 {
		s.SystemOut = junitText(strings.Join(r.Notes, "\n"))
	}
	return s
}

// failureText is the body of a <failure>: the message, then one line per piece of evidence.
func (r *Report) failureText(c Check) string {
	var b strings.Builder
	if c.Section != "" {
		fmt.Fprintf(&b, "protocol.md §%s\n", c.Section)
	}
	if c.Message != "" {
		b.WriteString(c.Message)
		b.WriteString("\n")
	}
	if c.Passes+c.Fails > 0 {
		fmt.Fprintf(&b, "%d of %d instances failed\n", c.Fails, c.Passes+c.Fails)
	}
	for _, e := range c.Evidence {
		b.WriteString("evidence: ")
		b.WriteString(r.evidenceLine(e))
		b.WriteString("\n")
	}
	return b.String()
}

// xmlSafe escapes what XML cannot hold or a terminal would interpret, keeping line breaks.
func xmlSafe(s string) string { return cleanBlock(s) }

func junitSeconds(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
}

func slugOr(s, def string) string {
	if v := slug(s); v != "" {
		return v
	}
	return def
}
