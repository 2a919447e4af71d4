package plot

import (
	"fmt"
	"html"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Point is one (x, y) value.
type Point struct{ X, Y float64 }

// Series is one named line.
type Series struct {
	Name   string
	Color  string // CSS colour; a palette colour when empty
	Points []Point
}

// Band is a shaded window on the x axis, such as the time a fault lasted.
type Band struct {
	Label    string // short text drawn at the top of the band
	Title    string // tooltip
	From, To float64
}

// Marker is a vertical line at X, such as a percentile.
type Marker struct {
	Label string
	X     float64
}

// Chart is a line chart of one or more series over a shared x axis, with optional shaded bands.
type Chart struct {
	ID            string // data-plot attribute, for finding the chart in a page
	Title         string
	Width, Height int // of the plotting area and axes, without the legend; default 720×240
	XLabel        string
	YLabel        string
	FormatX       func(float64) string
	FormatY       func(float64) string
	Series        []Series
	Bands         []Band
	// Fill shades the area under each line.
	Fill bool
	// Step draws each series as a step function (a value holds until the next point).
	Step bool
	// MaxPoints caps the points drawn per series (default 1500); longer series keep the minimum
	// and maximum of each bucket so spikes stay visible.
	MaxPoints int
}

// Histogram is the distribution of values in equal-width bins, with optional markers.
type Histogram struct {
	ID            string
	Title         string
	Width, Height int // default 720×220
	XLabel        string
	FormatX       func(float64) string
	Values        []float64
	Bins          int // default: √n between 5 and 40
	Color         string
	Markers       []Marker
}

// Palette returns the i-th colour of the default palette.
func Palette(i int) string {
	p := []string{"#2f7ed8", "#0d9488", "#d97706", "#7c3aed", "#dc2626", "#64748b", "#db2777", "#65a30d", "#0891b2", "#a16207"}
	return p[((i%len(p))+len(p))%len(p)]
}

const (
	marginLeft   = 64
	marginRight  = 20
	marginTop    = 34
	marginBottom = 44
	legendRow    = 18
	charWidth    = 7.0 // estimated width of a character of the 12px labels
)

type frame struct {
	w, h               float64 // total width and height of the plotting frame (without legend)
	x0, x1, y0, y1     float64 // data domain
	left, right        float64 // pixel bounds
	top, bottom        float64
	formatX, formatY   func(float64) string
	xLabel, yLabel     string
	title, id, classes string
}

func (f *frame) px(x float64) float64 {
	if f.x1 == f.x0 {
		return f.left
	}
	return f.left + (x-f.x0)/(f.x1-f.x0)*(f.right-f.left)
}

func (f *frame) py(y float64) float64 {
	if f.y1 == f.y0 {
		return f.bottom
	}
	return f.bottom - (y-f.y0)/(f.y1-f.y0)*(f.bottom-f.top)
}

func newFrame(id, title string, w, h int, defW, defH int) *frame {
	if w <= 0 {
		w = defW
	}
	if h <= 0 {
		h = defH
	}
	f := &frame{w: float64(w), h: float64(h), id: id, title: title}
	f.left, f.right = marginLeft, float64(w)-marginRight
	f.top, f.bottom = marginTop, float64(h)-marginBottom
	return f
}

// open writes the <svg> start tag, the title and the frame's accessible name.
func (f *frame) open(b *strings.Builder, extraHeight float64, attrs string) {
	total := f.h + extraHeight
	fmt.Fprintf(b, `<svg class="plot" data-plot="%s" viewBox="0 0 %s %s" width="%s" height="%s" role="img" aria-label="%s"%s>`,
		esc(f.id), num(f.w), num(total), num(f.w), num(total), esc(f.title), attrs)
	fmt.Fprintf(b, `<title>%s</title>`, esc(f.title))
	fmt.Fprintf(b, `<text class="plot-title" x="%s" y="18">%s</text>`, num(f.left), esc(f.title))
}

// axes draws gridlines, ticks and labels.
func (f *frame) axes(b *strings.Builder) {
	b.WriteString(`<g class="axis">`)
	for _, t := range Ticks(f.y0, f.y1, 5) {
		y := f.py(t)
		fmt.Fprintf(b, `<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s"/>`, num(f.left), num(y), num(f.right), num(y))
		fmt.Fprintf(b, `<text class="tick" x="%s" y="%s" text-anchor="end">%s</text>`, num(f.left-6), num(y+4), esc(f.formatY(t)))
	}
	maxTicks := int(math.Max(2, (f.right-f.left)/90))
	for _, t := range Ticks(f.x0, f.x1, maxTicks) {
		x := f.px(t)
		fmt.Fprintf(b, `<line class="tickmark" x1="%s" y1="%s" x2="%s" y2="%s"/>`, num(x), num(f.bottom), num(x), num(f.bottom+4))
		fmt.Fprintf(b, `<text class="tick" x="%s" y="%s" text-anchor="middle">%s</text>`, num(x), num(f.bottom+17), esc(f.formatX(t)))
	}
	fmt.Fprintf(b, `<line class="frame" x1="%s" y1="%s" x2="%s" y2="%s"/>`, num(f.left), num(f.bottom), num(f.right), num(f.bottom))
	fmt.Fprintf(b, `<line class="frame" x1="%s" y1="%s" x2="%s" y2="%s"/>`, num(f.left), num(f.top), num(f.left), num(f.bottom))
	if f.xLabel != "" {
		fmt.Fprintf(b, `<text class="axis-label" x="%s" y="%s" text-anchor="middle">%s</text>`, num((f.left+f.right)/2), num(f.bottom+34), esc(f.xLabel))
	}
	if f.yLabel != "" {
		fmt.Fprintf(b, `<text class="axis-label" x="%s" y="%s" text-anchor="end">%s</text>`, num(f.left-6), num(f.top-8), esc(f.yLabel))
	}
	b.WriteString(`</g>`)
}

// SVG renders the chart as an inline <svg> element.
func (c Chart) SVG() string {
	f := newFrame(c.ID, c.Title, c.Width, c.Height, 720, 240)
	f.formatX, f.formatY = orDefault(c.FormatX), orDefault(c.FormatY)
	f.xLabel, f.yLabel = c.XLabel, c.YLabel

	// Domain.
	f.x0, f.x1 = math.Inf(1), math.Inf(-1)
	f.y0, f.y1 = 0, math.Inf(-1)
	points := 0
	for _, s := range c.Series {
		for _, p := range s.Points {
			if !finite(p.X) || !finite(p.Y) {
				continue
			}
			points++
			f.x0, f.x1 = math.Min(f.x0, p.X), math.Max(f.x1, p.X)
			f.y0, f.y1 = math.Min(f.y0, p.Y), math.Max(f.y1, p.Y)
		}
	}
	for _, bd := range c.Bands {
		if finite(bd.From) {
			f.x0 = math.Min(f.x0, bd.From)
		}
		if finite(bd.To) {
			f.x1 = math.Max(f.x1, bd.To)
		}
	}
	if math.IsInf(f.x0, 0) || math.IsInf(f.x1, 0) {
		f.x0, f.x1 = 0, 1
	}
	if f.x1 == f.x0 {
		f.x1 = f.x0 + 1
	}
	if math.IsInf(f.y1, 0) || f.y1 <= f.y0 {
		f.y1 = f.y0 + 1
	}
	f.y0, f.y1 = niceDomain(f.y0, f.y1)

	legend := legendLayout(c.Series, f.right-f.left)
	var b strings.Builder
	f.open(&b, float64(legend.rows)*legendRow, fmt.Sprintf(` data-series="%d"`, len(c.Series)))
	f.axes(&b)

	// Bands under the lines.
	if len(c.Bands) > 0 {
		b.WriteString(`<g class="bands">`)
		for i, bd := range c.Bands {
			from, to := bd.From, bd.To
			if !finite(from) {
				from = f.x0
			}
			if !finite(to) || to < from {
				to = f.x1
			}
			x0, x1 := f.px(from), f.px(to)
			if x1-x0 < 2 {
				x1 = x0 + 2
			}
			title := bd.Title
			if title == "" {
				title = bd.Label
			}
			fmt.Fprintf(&b, `<rect class="band" data-band="%s" x="%s" y="%s" width="%s" height="%s"><title>%s</title></rect>`,
				esc(bd.Label), num(x0), num(f.top), num(x1-x0), num(f.bottom-f.top), esc(title))
			fmt.Fprintf(&b, `<text class="band-label" x="%s" y="%s">%s</text>`, num(x0+3), num(f.top+12+float64(i%3)*12), esc(bd.Label))
		}
		b.WriteString(`</g>`)
	}

	if points == 0 {
		fmt.Fprintf(&b, `<text class="nodata" x="%s" y="%s" text-anchor="middle">no data</text>`, num((f.left+f.right)/2), num((f.top+f.bottom)/2))
	}

	maxPoints := c.MaxPoints
	if maxPoints <= 0 {
		maxPoints = 1500
	}
	b.WriteString(`<g class="lines">`)
	for i, s := range c.Series {
		color := s.Color
		if color == "" {
			color = Palette(i)
		}
		pts := decimate(finitePoints(s.Points), maxPoints)
		sort.SliceStable(pts, func(a, b int) bool { return pts[a].X < pts[b].X })
		var d strings.Builder
		for j, p := range pts {
			x, y := f.px(p.X), f.py(p.Y)
			switch {
			case j == 0:
				fmt.Fprintf(&d, "M%s %s", num(x), num(y))
			case c.Step:
				fmt.Fprintf(&d, "H%sV%s", num(x), num(y))
			default:
				fmt.Fprintf(&d, "L%s %s", num(x), num(y))
			}
		}
		if c.Fill && len(pts) > 1 {
			fmt.Fprintf(&b, `<path class="area" d="%sL%s %sL%s %sZ" fill="%s"/>`,
				d.String(), num(f.px(pts[len(pts)-1].X)), num(f.bottom), num(f.px(pts[0].X)), num(f.bottom), color)
		}
		if len(pts) == 1 {
			fmt.Fprintf(&b, `<circle class="dot" cx="%s" cy="%s" r="3" fill="%s"/>`, num(f.px(pts[0].X)), num(f.py(pts[0].Y)), color)
		}
		fmt.Fprintf(&b, `<path class="series" data-series="%s" d="%s" stroke="%s"><title>%s</title></path>`,
			esc(s.Name), d.String(), color, esc(s.Name))
	}
	b.WriteString(`</g>`)

	// Legend below the x axis.
	if len(c.Series) > 0 {
		b.WriteString(`<g class="legend">`)
		for i, s := range c.Series {
			color := s.Color
			if color == "" {
				color = Palette(i)
			}
			pos := legend.pos[i]
			x := f.left + pos.x
			y := f.h + float64(pos.row)*legendRow
			fmt.Fprintf(&b, `<rect x="%s" y="%s" width="12" height="12" rx="2" fill="%s"/>`, num(x), num(y-10), color)
			fmt.Fprintf(&b, `<text x="%s" y="%s">%s</text>`, num(x+16), num(y), esc(s.Name))
		}
		b.WriteString(`</g>`)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

type legendPos struct {
	x   float64
	row int
}

type legendPlan struct {
	pos  []legendPos
	rows int
}

func legendLayout(series []Series, width float64) legendPlan {
	var lp legendPlan
	if len(series) == 0 {
		return lp
	}
	x, row := 0.0, 0
	for _, s := range series {
		w := 16 + charWidth*float64(len([]rune(s.Name))) + 18
		if x > 0 && x+w > width {
			x, row = 0, row+1
		}
		lp.pos = append(lp.pos, legendPos{x, row})
		x += w
	}
	lp.rows = row + 1
	return lp
}

// SVG renders the histogram as an inline <svg> element.
func (h Histogram) SVG() string {
	f := newFrame(h.ID, h.Title, h.Width, h.Height, 720, 220)
	f.formatX, f.formatY = orDefault(h.FormatX), orDefault(nil)
	f.xLabel, f.yLabel = h.XLabel, "count"
	values := make([]float64, 0, len(h.Values))
	for _, v := range h.Values {
		if finite(v) {
			values = append(values, v)
		}
	}
	var b strings.Builder
	if len(values) == 0 {
		f.x0, f.x1, f.y0, f.y1 = 0, 1, 0, 1
		f.open(&b, 0, ` data-bins="0"`)
		f.axes(&b)
		fmt.Fprintf(&b, `<text class="nodata" x="%s" y="%s" text-anchor="middle">no data</text></svg>`, num((f.left+f.right)/2), num((f.top+f.bottom)/2))
		return b.String()
	}
	lo, hi := values[0], values[0]
	for _, v := range values {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	bins := h.Bins
	if bins <= 0 {
		bins = int(math.Ceil(math.Sqrt(float64(len(values)))))
		bins = max(5, min(bins, 40))
	}
	if hi == lo {
		pad := math.Max(math.Abs(lo)*0.05, 1e-9)
		lo, hi = lo-pad, hi+pad
	}
	width := (hi - lo) / float64(bins)
	counts := make([]int, bins)
	for _, v := range values {
		i := int((v - lo) / width)
		if i >= bins {
			i = bins - 1
		}
		if i < 0 {
			i = 0
		}
		counts[i]++
	}
	top := 0
	for _, c := range counts {
		top = max(top, c)
	}
	f.x0, f.x1 = lo, hi
	f.y0, f.y1 = niceDomain(0, float64(top))
	for _, m := range h.Markers {
		if finite(m.X) {
			f.x0, f.x1 = math.Min(f.x0, m.X), math.Max(f.x1, m.X)
		}
	}
	color := h.Color
	if color == "" {
		color = Palette(0)
	}
	f.open(&b, 0, fmt.Sprintf(` data-bins="%d"`, bins))
	f.axes(&b)
	b.WriteString(`<g class="bars">`)
	for i, c := range counts {
		a, z := lo+float64(i)*width, lo+float64(i+1)*width
		x0, x1 := f.px(a), f.px(z)
		y := f.py(float64(c))
		fmt.Fprintf(&b, `<rect class="bar" x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s – %s: %d</title></rect>`,
			num(x0+0.5), num(y), num(math.Max(x1-x0-1, 0.5)), num(f.bottom-y), color, esc(f.formatX(a)), esc(f.formatX(z)), c)
	}
	b.WriteString(`</g>`)
	if len(h.Markers) > 0 {
		b.WriteString(`<g class="markers">`)
		for i, m := range h.Markers {
			if !finite(m.X) {
				continue
			}
			x := f.px(m.X)
			fmt.Fprintf(&b, `<line class="marker" data-marker="%s" x1="%s" y1="%s" x2="%s" y2="%s"><title>%s = %s</title></line>`,
				esc(m.Label), num(x), num(f.top), num(x), num(f.bottom), esc(m.Label), esc(f.formatX(m.X)))
			fmt.Fprintf(&b, `<text class="marker-label" x="%s" y="%s">%s</text>`, num(x+3), num(f.top+10+float64(i%4)*12), esc(m.Label))
		}
		b.WriteString(`</g>`)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// Ticks returns round values between lo and hi, about n of them, with steps of 1, 2 or 5 × 10ᵏ.
func Ticks(lo, hi float64, n int) []float64 {
	if !finite(lo) || !finite(hi) || hi <= lo || n < 1 {
		return nil
	}
	step := niceStep((hi - lo) / float64(n))
	start := math.Ceil(lo/step-1e-9) * step
	var ts []float64
	for v := start; v <= hi+step*1e-9; v += step {
		ts = append(ts, roundTo(v, step))
		if len(ts) > 100 {
			break
		}
	}
	return ts
}

func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	switch f := raw / mag; {
	case f <= 1:
		return mag
	case f <= 2:
		return 2 * mag
	case f <= 5:
		return 5 * mag
	}
	return 10 * mag
}

// niceDomain widens [lo, hi] to multiples of a nice step.
func niceDomain(lo, hi float64) (float64, float64) {
	step := niceStep((hi - lo) / 5)
	return roundTo(math.Floor(lo/step)*step, step), roundTo(math.Ceil(hi/step-1e-9)*step, step)
}

func roundTo(v, step float64) float64 {
	// Remove float noise: keep the decimals the step has, plus two.
	dec := int(math.Max(0, -math.Floor(math.Log10(step)))) + 2
	p := math.Pow(10, float64(dec))
	r := math.Round(v*p) / p
	if r == 0 {
		return 0 // never -0
	}
	return r
}

// decimate keeps at most max points: the first and last, and in each bucket its min and max.
func decimate(pts []Point, maxPts int) []Point {
	if len(pts) <= maxPts || maxPts < 4 {
		return pts
	}
	buckets := maxPts / 2
	size := float64(len(pts)) / float64(buckets)
	out := make([]Point, 0, maxPts+2)
	for i := 0; i < buckets; i++ {
		a, z := int(float64(i)*size), int(float64(i+1)*size)
		if z > len(pts) {
			z = len(pts)
		}
		if a >= z {
			continue
		}
		lo, hi := a, a
		for j := a; j < z; j++ {
			if pts[j].Y < pts[lo].Y {
				lo = j
			}
			if pts[j].Y > pts[hi].Y {
				hi = j
			}
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		out = append(out, pts[lo])
		if hi != lo {
			out = append(out, pts[hi])
		}
	}
	if out[len(out)-1] != pts[len(pts)-1] {
		out = append(out, pts[len(pts)-1])
	}
	if out[0] != pts[0] {
		out = append([]Point{pts[0]}, out...)
	}
	return out
}

func finitePoints(pts []Point) []Point {
	out := make([]Point, 0, len(pts))
	for _, p := range pts {
		if finite(p.X) && finite(p.Y) {
			out = append(out, p)
		}
	}
	return out
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func orDefault(f func(float64) string) func(float64) string {
	if f != nil {
		return f
	}
	return func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
}

// num formats a coordinate with at most one decimal.
func num(v float64) string {
	s := strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
	if s == "-0" {
		return "0"
	}
	return s
}

func esc(s string) string { return html.EscapeString(s) }
