package reports

import (
	"bytes"
	"encoding/xml"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// xmlNode is a generic element tree, to check the JUnit document's structure as a consumer sees it.
type xmlNode struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []xmlNode  `xml:",any"`
}

func (n xmlNode) attr(name string) (string, bool) {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

func (n xmlNode) children(name string) []xmlNode {
	var out []xmlNode
	for _, c := range n.Children {
		if c.XMLName.Local == name {
			out = append(out, c)
		}
	}
	return out
}

// The common JUnit schema (as Jenkins and GitLab read it): which children and attributes each
// element may have, and which attributes it must have.
var junitSchema = map[string]struct {
	children, attrs, required []string
}{
	"testsuites": {[]string{"testsuite"}, []string{"name", "time", "tests", "failures", "errors"}, nil},
	"testsuite": {[]string{"properties", "testcase", "system-out", "system-err"},
		[]string{"name", "tests", "failures", "errors", "time", "skipped", "timestamp", "hostname", "id", "package"},
		[]string{"name", "tests", "failures", "errors"}},
	"properties": {[]string{"property"}, nil, nil},
	"property":   {nil, []string{"name", "value"}, []string{"name", "value"}},
	"testcase":   {[]string{"skipped", "error", "failure", "system-out", "system-err"}, []string{"name", "time", "classname"}, []string{"name"}},
	"failure":    {nil, []string{"type", "message"}, nil},
	"error":      {nil, []string{"type", "message"}, nil},
	"skipped":    {nil, []string{"type", "message"}, nil},
	"system-out": {nil, nil, nil},
	"system-err": {nil, nil, nil},
}

var junitTime = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

func checkJUnitSchema(t *testing.T, n xmlNode, path string) {
	t.Helper()
	path += "/" + n.XMLName.Local
	rule, ok := junitSchema[n.XMLName.Local]
	if !ok {
		t.Errorf("%s: element not in the JUnit schema", path)
		return
	}
	for _, a := range n.Attrs {
		if !contains(rule.attrs, a.Name.Local) {
			t.Errorf("%s: attribute %s not in the schema", path, a.Name.Local)
		}
		if a.Name.Local == "time" && !junitTime.MatchString(a.Value) {
			t.Errorf("%s: time %q is not a plain decimal", path, a.Value)
		}
	}
	for _, req := range rule.required {
		if _, ok := n.attr(req); !ok {
			t.Errorf("%s: required attribute %s missing", path, req)
		}
	}
	for _, c := range n.Children {
		if !contains(rule.children, c.XMLName.Local) {
			t.Errorf("%s: child %s not allowed", path, c.XMLName.Local)
		}
		checkJUnitSchema(t, c, path)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func parseJUnit(t *testing.T, data []byte) xmlNode {
	t.Helper()
	var root xmlNode
	dec := xml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		t.Fatalf("JUnit XML does not parse: %v\n%s", err, data)
	}
	// Nothing may follow the root element but whitespace.
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after the root: %v", err)
		}
		if cd, ok := tok.(xml.CharData); !ok || strings.TrimSpace(string(cd)) != "" {
			t.Fatalf("content after the root element: %#v", tok)
		}
	}
	checkJUnitSchema(t, root, "")
	return root
}

func atoi(t *testing.T, n xmlNode, attr string) int {
	t.Helper()
	v, _ := n.attr(attr)
	i, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", attr, v, err)
	}
	return i
}

func TestJUnitGoldenAndStructure(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleReport().WriteJUnit(&buf); err != nil {
		t.Fatal(err)
	}
	golden(t, "junit.golden", buf.Bytes())
	if !strings.HasPrefix(buf.String(), `<?xml version="1.0" encoding="UTF-8"?>`) {
		t.Error("no XML declaration")
	}
	root := parseJUnit(t, buf.Bytes())
	if root.XMLName.Local != "testsuites" {
		t.Fatalf("root %s", root.XMLName.Local)
	}
	suites := root.children("testsuite")
	if len(suites) != 1 {
		t.Fatalf("%d testsuites, want 1", len(suites))
	}
	s := suites[0]
	if name, _ := s.attr("name"); name != "smoke" {
		t.Errorf("suite name %q", name)
	}
	cases := s.children("testcase")
	// 5 checks + 3 thresholds.
	if len(cases) != 8 || atoi(t, s, "tests") != 8 || atoi(t, root, "tests") != 8 {
		t.Fatalf("%d testcases, tests=%d", len(cases), atoi(t, s, "tests"))
	}
	if atoi(t, s, "failures") != 2 || atoi(t, s, "skipped") != 1 || atoi(t, s, "errors") != 0 {
		t.Errorf("failures %d skipped %d errors %d", atoi(t, s, "failures"), atoi(t, s, "skipped"), atoi(t, s, "errors"))
	}
	if ts, _ := s.attr("timestamp"); ts != "2026-03-01T10:00:00" {
		t.Errorf("timestamp %q", ts)
	}
	if tm, _ := s.attr("time"); tm != "63.500" {
		t.Errorf("time %q", tm)
	}
	props := map[string]string{}
	for _, p := range s.children("properties")[0].children("property") {
		k, _ := p.attr("name")
		v, _ := p.attr("value")
		props[k] = v
	}
	if props["seed"] != "42" || props["verdict"] != "fail" || props["exit_code"] != "1" || props["schema"] != Schema {
		t.Errorf("properties %v", props)
	}

	var failed, skipped []xmlNode
	for _, c := range cases {
		if f := c.children("failure"); len(f) > 0 {
			failed = append(failed, c)
		}
		if len(c.children("skipped")) > 0 {
			skipped = append(skipped, c)
		}
	}
	if len(failed) != 2 || len(skipped) != 1 {
		t.Fatalf("%d failed, %d skipped testcases", len(failed), len(skipped))
	}
	f := failed[0]
	if name, _ := f.attr("name"); name != "node statuses match the oracle §5.6" {
		t.Errorf("failed case %q", name)
	}
	if cl, _ := f.attr("classname"); cl != "pushlab.smoke.checks" {
		t.Errorf("classname %q", cl)
	}
	fl := f.children("failure")[0]
	if msg, _ := fl.attr("message"); msg != "3 nodes differ from the oracle: expected crashed, got running" {
		t.Errorf("failure message %q", msg)
	}
	for _, want := range []string{"protocol.md §5.6", "3 of 1000 instances failed", "evidence: job · node node-0042 · job 7f3a9c1e · +31.25s", `<script>alert(1)</script>`} {
		if !strings.Contains(fl.Text, want) {
			t.Errorf("failure text lacks %q:\n%s", want, fl.Text)
		}
	}
	if strings.ContainsRune(fl.Text, 0x1b) {
		t.Error("an escape character reached the XML")
	}
	if typ, _ := failed[1].children("failure")[0].attr("type"); typ != "threshold" {
		t.Errorf("threshold failure type %q", typ)
	}
}

func TestJUnitManyReportsAndErrors(t *testing.T) {
	a := sampleReport()
	b := NewReport(Scenario{Name: "crash-mid-run"}, Target{})
	b.Pass("x", "x", "")
	b.Fail("cdata", "cdata end in a message", "", "x ]]> y\nsecond line")
	b.SetError(errIO("zeromq: address in use"))
	b.Finish(b.Start.Add(2 * 1e9))
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, a, b); err != nil {
		t.Fatal(err)
	}
	root := parseJUnit(t, buf.Bytes())
	suites := root.children("testsuite")
	if len(suites) != 2 {
		t.Fatalf("%d suites", len(suites))
	}
	if id, _ := suites[1].attr("id"); id != "1" {
		t.Errorf("second suite id %q", id)
	}
	if atoi(t, suites[1], "errors") != 1 || atoi(t, root, "errors") != 1 || atoi(t, root, "tests") != 11 || atoi(t, root, "failures") != 3 {
		t.Errorf("totals: %+v", root.Attrs)
	}
	var errCase *xmlNode
	for _, c := range suites[1].children("testcase") {
		if len(c.children("error")) > 0 {
			errCase = &c
		}
		if f := c.children("failure"); len(f) > 0 && !strings.Contains(f[0].Text, "x ]]> y\nsecond line") {
			t.Errorf("failure text with a CDATA end: %q", f[0].Text)
		}
	}
	if errCase == nil {
		t.Fatal("no testcase carries the harness error")
	}
	if msg, _ := errCase.children("error")[0].attr("message"); msg != "zeromq: address in use" {
		t.Errorf("error message %q", msg)
	}
}

type errIO string

func (e errIO) Error() string { return string(e) }
