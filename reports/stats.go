package reports

import (
	"math"
	"sort"
)

// Summary describes a distribution of values.
type Summary struct {
	Count int     `json:"count"`
	Min   float64 `json:"min"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// Summarize computes count, min, mean, p50, p90, p95, p99 and max of values (which it does not
// modify); percentiles interpolate linearly between closest ranks. An empty set gives zeros.
func Summarize(values []float64) Summary {
	if len(values) == 0 {
		return Summary{}
	}
	s := sorted(values)
	sum := 0.0
	for _, v := range s {
		sum += v
	}
	return Summary{
		Count: len(s),
		Min:   s[0],
		Mean:  sum / float64(len(s)),
		P50:   Percentile(s, 50),
		P90:   Percentile(s, 90),
		P95:   Percentile(s, 95),
		P99:   Percentile(s, 99),
		Max:   s[len(s)-1],
	}
}

// Percentile is the p-th percentile (0..100) of sorted values, interpolated linearly between the
// closest ranks; NaN for an empty slice.
func Percentile(sortedValues []float64, p float64) float64 {
	n := len(sortedValues)
	if n == 0 {
		return math.NaN()
	}
	if p <= 0 {
		return sortedValues[0]
	}
	if p >= 100 {
		return sortedValues[n-1]
	}
	rank := p / 100 * float64(n-1)
	lo := int(math.Floor(rank))
	hi := int(math.Ceil(rank))
	frac := rank - float64(lo)
	return sortedValues[lo] + frac*(sortedValues[hi]-sortedValues[lo])
}

// Median is the median of values.
func Median(values []float64) float64 { return Percentile(sorted(values), 50) }

func sorted(values []float64) []float64 {
	s := append([]float64(nil), values...)
	sort.Float64s(s)
	return s
}

// MannWhitney runs a two-sided Mann-Whitney U test of whether x and y come from the same
// distribution, and returns U (of x) and the p-value. Small samples without ties use the exact
// distribution of U; others use the normal approximation with tie and continuity corrections.
// Empty samples give p = 1.
func MannWhitney(x, y []float64) (u, p float64) {
	n1, n2 := len(x), len(y)
	if n1 == 0 || n2 == 0 {
		return 0, 1
	}
	type obs struct {
		v    float64
		from int
	}
	all := make([]obs, 0, n1+n2)
	for _, v := range x {
		all = append(all, obs{v, 0})
	}
	for _, v := range y {
		all = append(all, obs{v, 1})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v < all[j].v })
	n := n1 + n2
	rankSumX := 0.0
	tieTerm := 0.0 // Σ (t³ - t) over groups of ties
	ties := false
	for i := 0; i < n; {
		j := i + 1
		for j < n && all[j].v == all[i].v {
			j++
		}
		avg := float64(i+j+1) / 2 // ranks are 1-based: (i+1 + j) / 2
		for k := i; k < j; k++ {
			if all[k].from == 0 {
				rankSumX += avg
			}
		}
		if t := float64(j - i); t > 1 {
			ties = true
			tieTerm += t*t*t - t
		}
		i = j
	}
	u = rankSumX - float64(n1)*float64(n1+1)/2
	mu := float64(n1) * float64(n2) / 2

	if !ties && n <= 50 {
		return u, exactMannWhitneyP(u, n1, n2)
	}
	nf := float64(n)
	variance := float64(n1) * float64(n2) / 12 * ((nf + 1) - tieTerm/(nf*(nf-1)))
	if variance <= 0 {
		return u, 1 // every value is the same
	}
	z := (math.Abs(u-mu) - 0.5) / math.Sqrt(variance)
	if z < 0 {
		z = 0
	}
	p = math.Erfc(z / math.Sqrt2)
	return u, math.Min(1, p)
}

// exactMannWhitneyP is the two-sided p-value of U for sample sizes n1 and n2 without ties, from
// the number of arrangements giving each value of U.
func exactMannWhitneyP(u float64, n1, n2 int) float64 {
	maxU := n1 * n2
	// counts[m][k] holds, for the current n, the arrangements of m x-values among m+k values by U.
	// Build f(m, k) = distribution of U for sizes m and k with f(m,k)[u] = f(m-1,k)[u-k] + f(m,k-1)[u].
	prev := make([][]float64, n2+1) // prev[k] = f(m-1, k)
	for k := 0; k <= n2; k++ {
		prev[k] = []float64{1} // f(0, k): one arrangement, U = 0
	}
	for m := 1; m <= n1; m++ {
		cur := make([][]float64, n2+1)
		cur[0] = []float64{1} // f(m, 0): U = 0
		for k := 1; k <= n2; k++ {
			size := m*k + 1
			d := make([]float64, size)
			for v := 0; v < size; v++ {
				if v-k >= 0 && v-k < len(prev[k]) {
					d[v] += prev[k][v-k]
				}
				if v < len(cur[k-1]) {
					d[v] += cur[k-1][v]
				}
			}
			cur[k] = d
		}
		prev = cur
	}
	dist := prev[n2]
	total := 0.0
	for _, c := range dist {
		total += c
	}
	ui := int(math.Round(u))
	lower, upper := 0.0, 0.0
	for v := 0; v <= maxU && v < len(dist); v++ {
		if v <= ui {
			lower += dist[v]
		}
		if v >= ui {
			upper += dist[v]
		}
	}
	p := 2 * math.Min(lower, upper) / total
	return math.Min(1, p)
}
