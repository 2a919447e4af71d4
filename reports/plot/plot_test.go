package plot

import (
	"encoding/xml"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// svgTree parses an SVG string as XML, which it must be.
type svgTree struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []svgTree  `xml:",any"`
}

func parseSVG(t *testing.T, s string) svgTree {
	t.Helper()
	var root svgTree
	if err := xml.Unmarshal([]byte(s), &root); err != nil {
		t.Fatalf("SVG is not well-formed XML: %v\n%.400s", err, s)
	}
	if root.XMLName.Local != "svg" {
		t.Fatalf("root %s", root.XMLName.Local)
	}
	return root
}

func (n svgTree) attr(k string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == k {
			return a.Value
		}
	}
	return ""
}

func (n svgTree) all(match func(svgTree) bool) []svgTree {
	var out []svgTree
	if match(n) {
		out = append(out, n)
	}
	for _, c := range n.Children {
		out = append(out, c.all(match)...)
	}
	return out
}

func withClass(tag, class string) func(svgTree) bool {
	return func(n svgTree) bool {
		return n.XMLName.Local == tag && strings.Contains(" "+n.attr("class")+" ", " "+class+" ")
	}
}

func TestTicks(t *testing.T) {
	cases := []struct {
		lo, hi float64
		n      int
		want   []float64
	}{
		{0, 1000, 5, []float64{0, 200, 400, 600, 800, 1000}},
		{0, 63.5, 7, []float64{0, 10, 20, 30, 40, 50, 60}},
		{0.1, 0.176, 5, []float64{0.1, 0.12, 0.14, 0.16}},
		{-3, 3, 3, []float64{-2, 0, 2}},
	}
	for _, c := range cases {
		if got := Ticks(c.lo, c.hi, c.n); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Ticks(%v, %v, %d) = %v, want %v", c.lo, c.hi, c.n, got, c.want)
		}
	}
	for _, v := range Ticks(-1, 1, 4) {
		if math.Signbit(v) && v == 0 {
			t.Error("a -0 tick")
		}
	}
	if Ticks(1, 1, 5) != nil || Ticks(0, math.NaN(), 5) != nil {
		t.Error("degenerate ranges give ticks")
	}
}

func TestChart(t *testing.T) {
	c := Chart{ID: "states", Title: "Node <states> & more",
		Series: []Series{
			{Name: "online", Points: []Point{{0, 0}, {1, 10}, {2, 20}}},
			{Name: "offline", Color: "#123456", Points: []Point{{0, 20}, {1, 10}, {2, math.NaN()}}},
			{Name: "none"},
		},
		Bands: []Band{{Label: "crash", From: 0.5, To: 1.5}, {Label: "open-ended", From: 1.8, To: math.NaN()}},
		Step:  true, Fill: true,
	}
	root := parseSVG(t, c.SVG())
	if root.attr("data-plot") != "states" || root.attr("data-series") != "3" || root.attr("aria-label") != "Node <states> & more" {
		t.Errorf("svg attributes %v", root.Attrs)
	}
	series := root.all(withClass("path", "series"))
	if len(series) != 3 {
		t.Fatalf("%d series", len(series))
	}
	if series[0].attr("data-series") != "online" || series[1].attr("stroke") != "#123456" || series[0].attr("stroke") != Palette(0) {
		t.Error("series names or colours")
	}
	if d := series[0].attr("d"); !strings.HasPrefix(d, "M") || strings.Count(d, "H") != 2 || strings.Count(d, "V") != 2 {
		t.Errorf("step path %q", d)
	}
	if d := series[1].attr("d"); strings.Count(d, "H") != 1 {
		t.Errorf("NaN point drawn: %q", d)
	}
	if n := len(root.all(withClass("path", "area"))); n != 2 {
		t.Errorf("%d filled areas", n)
	}
	bands := root.all(withClass("rect", "band"))
	if len(bands) != 2 || bands[0].attr("data-band") != "crash" {
		t.Fatalf("bands %v", bands)
	}
	// The open-ended band runs to the right edge of the plot: x + width = 720 - 20.
	x, errX := strconv.ParseFloat(bands[1].attr("x"), 64)
	w, errW := strconv.ParseFloat(bands[1].attr("width"), 64)
	if errX != nil || errW != nil || math.Abs(x+w-700) > 0.2 {
		t.Errorf("open band ends at %v", x+w)
	}
	if n := len(root.all(func(n svgTree) bool { return n.XMLName.Local == "g" && n.attr("class") == "legend" })); n != 1 {
		t.Error("legend")
	}
}

func TestChartEmpty(t *testing.T) {
	root := parseSVG(t, Chart{ID: "e", Title: "empty"}.SVG())
	if len(root.all(func(n svgTree) bool { return n.attr("class") == "nodata" })) != 1 {
		t.Error("no 'no data' label")
	}
}

func TestChartLegendWraps(t *testing.T) {
	var ss []Series
	for i := 0; i < 12; i++ {
		ss = append(ss, Series{Name: strings.Repeat("x", 20), Points: []Point{{0, 1}, {1, 2}}})
	}
	root := parseSVG(t, Chart{ID: "w", Series: ss}.SVG())
	if h := root.attr("height"); h == "240" {
		t.Error("the legend's rows did not add height")
	}
}

func TestDecimateKeepsSpikes(t *testing.T) {
	var pts []Point
	for i := 0; i < 10000; i++ {
		y := 1.0
		if i == 5003 {
			y = 1000
		}
		pts = append(pts, Point{float64(i), y})
	}
	out := decimate(pts, 1000)
	if len(out) > 1002 || len(out) < 500 {
		t.Fatalf("%d points", len(out))
	}
	spike := false
	for _, p := range out {
		spike = spike || p.Y == 1000
	}
	if !spike || out[0] != pts[0] || out[len(out)-1] != pts[len(pts)-1] {
		t.Error("decimation lost the spike or an end")
	}
	for i := 1; i < len(out); i++ {
		if out[i].X <= out[i-1].X {
			t.Fatal("decimated points out of order")
		}
	}
}

func TestHistogram(t *testing.T) {
	var vs []float64
	for i := 0; i < 100; i++ {
		vs = append(vs, float64(i%10))
	}
	h := Histogram{ID: "lat", Title: "latency", Values: vs, Bins: 10, Markers: []Marker{{"p50", 4.5}, {"p99", 9}}}
	root := parseSVG(t, h.SVG())
	bars := root.all(withClass("rect", "bar"))
	if len(bars) != 10 || root.attr("data-bins") != "10" {
		t.Fatalf("%d bars", len(bars))
	}
	for _, b := range bars {
		if b.attr("height") != bars[0].attr("height") {
			t.Errorf("uniform values gave uneven bars: %s vs %s", b.attr("height"), bars[0].attr("height"))
		}
	}
	if n := len(root.all(withClass("line", "marker"))); n != 2 {
		t.Errorf("%d markers", n)
	}
	// Default bins: √n between 5 and 40.
	if got := parseSVG(t, Histogram{Values: vs}.SVG()).attr("data-bins"); got != "10" {
		t.Errorf("default bins %s", got)
	}
	if got := parseSVG(t, Histogram{Values: []float64{3, 3, 3}}.SVG()).all(withClass("rect", "bar")); len(got) != 5 {
		t.Errorf("constant values: %d bars", len(got))
	}
	empty := parseSVG(t, Histogram{ID: "none"}.SVG())
	if empty.attr("data-bins") != "0" || len(empty.all(withClass("rect", "bar"))) != 0 {
		t.Error("empty histogram")
	}
}
