package reports

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// voidElements never have an end tag.
var voidElements = map[string]bool{
	"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true, "img": true, "input": true,
	"link": true, "meta": true, "source": true, "track": true, "wbr": true,
}

// checkWellFormed tokenizes the page and checks that every element is closed, in order, and that
// the tokenizer meets no error before the end.
func checkWellFormed(t *testing.T, page []byte) {
	t.Helper()
	z := html.NewTokenizer(bytes.NewReader(page))
	var stack []string
	sawDoctype := false
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			if z.Err() != io.EOF {
				t.Fatalf("tokenizer: %v", z.Err())
			}
			if len(stack) != 0 {
				t.Fatalf("unclosed elements at the end: %v", stack)
			}
			if !sawDoctype {
				t.Error("no doctype")
			}
			return
		case html.DoctypeToken:
			sawDoctype = true
		case html.StartTagToken:
			name, _ := z.TagName()
			if !voidElements[string(name)] {
				stack = append(stack, string(name))
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			if len(stack) == 0 || stack[len(stack)-1] != string(name) {
				t.Fatalf("end tag </%s> does not close the open element (stack %v)", name, stack)
			}
			stack = stack[:len(stack)-1]
		}
	}
}

// node helpers over the parsed tree.
func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasClass(n *html.Node, class string) bool {
	for _, c := range strings.Fields(attr(n, "class")) {
		if c == class {
			return true
		}
	}
	return false
}

func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func byTag(tag string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Data == tag }
}

func byID(id string) func(*html.Node) bool {
	return func(n *html.Node) bool { return attr(n, "id") == id }
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

// plotOf finds the <svg data-plot=id>.
func plotOf(t *testing.T, doc *html.Node, id string) *html.Node {
	t.Helper()
	ps := findAll(doc, func(n *html.Node) bool { return n.Data == "svg" && attr(n, "data-plot") == id })
	if len(ps) != 1 {
		t.Fatalf("%d plots %q", len(ps), id)
	}
	return ps[0]
}

// checkSelfContained fails on anything that would make a browser fetch: src, href or other URL
// attributes that are not fragments, link/img/iframe/object elements, CSS url() or @import.
func checkSelfContained(t *testing.T, doc *html.Node) {
	t.Helper()
	for _, n := range findAll(doc, func(*html.Node) bool { return true }) {
		switch n.Data {
		case "link", "img", "iframe", "object", "embed", "image", "use", "base", "video", "audio", "source":
			t.Errorf("element <%s> may fetch", n.Data)
		}
		for _, a := range n.Attr {
			key := strings.ToLower(a.Key)
			val := strings.ToLower(strings.TrimSpace(a.Val))
			switch key {
			case "src", "href", "xlink:href", "action", "formaction", "srcset", "poster", "data", "background", "manifest":
				if !strings.HasPrefix(val, "#") {
					t.Errorf("<%s %s=%q> points outside the page", n.Data, a.Key, a.Val)
				}
			}
			if strings.Contains(val, "http://") || strings.Contains(val, "https://") {
				if key != "content" || n.Data != "meta" {
					t.Errorf("<%s %s=%q> holds a URL", n.Data, a.Key, a.Val)
				}
			}
		}
		if n.Data == "style" {
			css := strings.ToLower(textOf(n))
			if strings.Contains(css, "url(") || strings.Contains(css, "@import") {
				t.Error("CSS fetches something")
			}
		}
		if n.Data == "script" && attr(n, "src") != "" {
			t.Error("external script")
		}
	}
}

func renderHTML(t *testing.T, r *Report) ([]byte, *html.Node) {
	t.Helper()
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	checkWellFormed(t, buf.Bytes())
	doc, err := html.Parse(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	checkSelfContained(t, doc)
	return buf.Bytes(), doc
}

func TestHTMLReport(t *testing.T) {
	page, doc := renderHTML(t, sampleReport())

	// The verdict header.
	v := findAll(doc, byID("verdict-word"))
	if len(v) != 1 || textOf(v[0]) != "FAIL" {
		t.Fatalf("verdict word %v", v)
	}
	if hdr := findAll(doc, byID("verdict"))[0]; !hasClass(hdr, "verdict-fail") || !strings.Contains(textOf(hdr), "1 of 4 checks failed") {
		t.Errorf("verdict header %q", textOf(hdr))
	}
	csp := findAll(doc, func(n *html.Node) bool { return n.Data == "meta" && attr(n, "http-equiv") == "Content-Security-Policy" })
	if len(csp) != 1 || !strings.HasPrefix(attr(csp[0], "content"), "default-src 'none'") {
		t.Error("no Content-Security-Policy forbidding fetches")
	}

	// Node states: one line per state, the two fault windows shaded.
	ns := plotOf(t, doc, "node-states")
	series := findAll(ns, func(n *html.Node) bool { return n.Data == "path" && hasClass(n, "series") })
	var names []string
	for _, s := range series {
		names = append(names, attr(s, "data-series"))
		if !strings.HasPrefix(attr(s, "d"), "M") || strings.Count(attr(s, "d"), "H") != 60 {
			t.Errorf("series %s has path %.60q…", attr(s, "data-series"), attr(s, "d"))
		}
	}
	if strings.Join(names, ",") != "online,available,offline,crashed" || attr(ns, "data-series") != "4" {
		t.Errorf("node state series %v", names)
	}
	bands := findAll(ns, func(n *html.Node) bool { return n.Data == "rect" && hasClass(n, "band") })
	if len(bands) != 2 || attr(bands[0], "data-band") != "crash" || attr(bands[1], "data-band") != "unavailable" {
		t.Errorf("fault bands %d", len(bands))
	}
	if len(findAll(ns, func(n *html.Node) bool { return n.Data == "g" && hasClass(n, "legend") })) != 1 {
		t.Error("no legend")
	}

	// Events per second: one filled series.
	eps := plotOf(t, doc, "events-per-second")
	if n := len(findAll(eps, func(n *html.Node) bool { return n.Data == "path" && hasClass(n, "series") })); n != 1 {
		t.Errorf("events per second: %d series", n)
	}
	if n := len(findAll(eps, func(n *html.Node) bool { return n.Data == "path" && hasClass(n, "area") })); n != 1 {
		t.Errorf("events per second: %d areas", n)
	}
	plotOf(t, doc, "series-harness-cpu")

	// Latency: a histogram with percentile markers per phase, and the percentile table.
	for _, phase := range []string{"voting", "running", "total"} {
		h := plotOf(t, doc, "latency-"+phase)
		bars := findAll(h, func(n *html.Node) bool { return n.Data == "rect" && hasClass(n, "bar") })
		if len(bars) < 5 || attr(h, "data-bins") != "8" || len(bars) != 8 {
			t.Errorf("%s: %d bars, data-bins %s", phase, len(bars), attr(h, "data-bins"))
		}
		markers := findAll(h, func(n *html.Node) bool { return n.Data == "line" && hasClass(n, "marker") })
		if len(markers) != 3 || attr(markers[0], "data-marker") != "p50" {
			t.Errorf("%s: %d markers", phase, len(markers))
		}
	}
	lat := findAll(doc, func(n *html.Node) bool { return n.Data == "table" && hasClass(n, "latency") })
	if len(lat) != 1 || len(findAll(lat[0], byTag("tr"))) != 4 {
		t.Error("latency table")
	}
	if n := len(findAll(doc, func(n *html.Node) bool { return n.Data == "svg" && hasClass(n, "plot") })); n != 6 {
		t.Errorf("%d plots, want 6", n)
	}

	// Checks: failures first, open, with evidence; the server's text is escaped.
	rows := findAll(doc, func(n *html.Node) bool { return n.Data == "tr" && hasClass(n, "check") })
	if len(rows) != 5 || attr(rows[0], "data-status") != "fail" || attr(rows[1], "data-status") != "skip" {
		t.Fatalf("check rows %d", len(rows))
	}
	det := findAll(rows[0], byTag("details"))
	if len(det) != 1 || attr(det[0], "open") != "" && !hasAttr(det[0], "open") {
		t.Error("failed check's details are not open")
	}
	ev := findAll(rows[0], func(n *html.Node) bool { return n.Data == "table" && hasClass(n, "evidence") })
	if len(ev) != 1 || len(findAll(ev[0], byTag("tr"))) != 5 {
		t.Error("evidence table")
	}
	if !strings.Contains(textOf(rows[0]), "<script>alert(1)</script>") || !strings.Contains(textOf(rows[0]), "node-0042") {
		t.Error("evidence text missing")
	}
	if n := len(findAll(doc, byTag("script"))); n != 1 {
		t.Errorf("%d script elements: evidence was not escaped", n)
	}
	if !strings.Contains(textOf(rows[0]), "§5.6") || !strings.Contains(textOf(rows[0]), "997/1000") {
		t.Error("section or counts missing from the failed check")
	}

	// Thresholds, jobs, health, notes.
	th := findAll(doc, func(n *html.Node) bool { return n.Data == "tr" && hasClass(n, "threshold") })
	if len(th) != 3 || !hasClass(th[1], "fail") || !strings.Contains(textOf(th[1]), "max=3.4s") {
		t.Errorf("threshold rows %d", len(th))
	}
	if jobs := findAll(doc, func(n *html.Node) bool { return n.Data == "tr" && hasClass(n, "job") }); len(jobs) != 3 {
		t.Errorf("%d job rows", len(jobs))
	}
	if !strings.Contains(textOf(findAll(doc, byID("health"))[0]), "12 of 60000 (0.02%)") {
		t.Error("fleet health")
	}
	if !strings.Contains(textOf(findAll(doc, byID("notes"))[0]), "1s heartbeat") {
		t.Error("notes")
	}
	if bytes.Contains(page, []byte("\x1b")) {
		t.Error("raw escape character in the page")
	}
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}

func TestHTMLMinimalReport(t *testing.T) {
	r := NewReport(Scenario{Name: "empty"}, Target{Kind: TargetURL, URL: "https://pushy.example/"})
	r.SetError(errIO("could not reach https://pushy.example/"))
	r.Finish(r.Start)
	_, doc := renderHTML(t, r)
	if textOf(findAll(doc, byID("verdict-word"))[0]) != "ERROR" {
		t.Error("verdict")
	}
	if len(findAll(doc, byID("error"))) != 1 {
		t.Error("harness error not shown")
	}
	if n := len(findAll(doc, byTag("svg"))); n != 0 {
		t.Errorf("%d plots without data", n)
	}
	if !strings.Contains(textOf(findAll(doc, byID("checks"))[0]), "No checks ran") {
		t.Error("empty checks")
	}
}

func TestHTMLBoundsLargeRuns(t *testing.T) {
	r := NewReport(Scenario{Name: "fanout"}, Target{})
	var ev []Evidence
	for i := 0; i < 100; i++ {
		ev = append(ev, Evidence{Kind: EvidenceNode, Node: "n"})
	}
	r.Fail("many", "many", "", "x", ev...)
	for i := 0; i < 400; i++ {
		r.AddJob(JobSummary{ID: "j", Status: "complete"})
	}
	for i := 0; i < 20000; i++ {
		r.AddPoint("dense", "", r.Start.Add(50*time.Millisecond*time.Duration(i)), float64(i%100))
	}
	r.Finish(r.Start)
	page, doc := renderHTML(t, r)
	if n := len(findAll(doc, func(n *html.Node) bool { return n.Data == "tr" && hasClass(n, "job") })); n != maxHTMLJobs {
		t.Errorf("%d job rows", n)
	}
	if !strings.Contains(string(page), "75 more pieces of evidence") || !strings.Contains(string(page), "100 more jobs") {
		t.Error("truncation not said")
	}
	p := findAll(plotOf(t, doc, "series-dense"), func(n *html.Node) bool { return hasClass(n, "series") })[0]
	if segs := strings.Count(attr(p, "d"), "L"); segs > 1600 || segs < 500 {
		t.Errorf("dense series drawn with %d segments", segs)
	}
	if len(page) > 400_000 {
		t.Errorf("page is %d bytes", len(page))
	}
}
