package reports

import (
	"math"
	"math/rand/v2"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestSummarize(t *testing.T) {
	var vs []float64
	for i := 100; i >= 1; i-- { // unsorted on purpose
		vs = append(vs, float64(i))
	}
	s := Summarize(vs)
	want := Summary{Count: 100, Min: 1, Mean: 50.5, P50: 50.5, P90: 90.1, P95: 95.05, P99: 99.01, Max: 100}
	if s.Count != want.Count || !near(s.Min, want.Min) || !near(s.Mean, want.Mean) || !near(s.P50, want.P50) ||
		!near(s.P90, want.P90) || !near(s.P95, want.P95) || !near(s.P99, want.P99) || !near(s.Max, want.Max) {
		t.Errorf("got %+v\nwant %+v", s, want)
	}
	if vs[0] != 100 {
		t.Error("Summarize sorted its input")
	}
	if (Summarize(nil) != Summary{}) {
		t.Error("empty summary is not zero")
	}
	one := Summarize([]float64{7})
	if one.P50 != 7 || one.P99 != 7 || one.Min != 7 || one.Max != 7 {
		t.Errorf("single value %+v", one)
	}
	if !math.IsNaN(Percentile(nil, 50)) {
		t.Error("percentile of nothing")
	}
	if Median([]float64{3, 1, 2}) != 2 {
		t.Error("median")
	}
}

func TestMannWhitneyExact(t *testing.T) {
	// Completely separated samples of 5: U = 0, p = 2 / C(10,5) = 2/252.
	u, p := MannWhitney([]float64{1, 2, 3, 4, 5}, []float64{6, 7, 8, 9, 10})
	if u != 0 || !near(p, 2.0/252) {
		t.Errorf("U=%v p=%v", u, p)
	}
	u, p = MannWhitney([]float64{6, 7, 8, 9, 10}, []float64{1, 2, 3, 4, 5})
	if u != 25 || !near(p, 2.0/252) {
		t.Errorf("reversed: U=%v p=%v", u, p)
	}
	// Interleaved samples: U in the middle, p = 1 for the exact centre.
	// x = 1,4,5,8 ; y = 2,3,6,7 → U(x) = 0+2+2+4 = 8 = n1·n2/2.
	u, p = MannWhitney([]float64{1, 4, 5, 8}, []float64{2, 3, 6, 7})
	if u != 8 || p != 1 {
		t.Errorf("interleaved: U=%v p=%v", u, p)
	}
	// One sample beats all but one: x = {2,3,4}, y = {1,5,6}: U = 3; P(U ≤ 3) for 3+3 = 7/20.
	u, p = MannWhitney([]float64{2, 3, 4}, []float64{1, 5, 6})
	if u != 3 || !near(p, 0.7) {
		t.Errorf("U=%v p=%v, want 3 0.7", u, p)
	}
}

func TestMannWhitneyNormalApproximation(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	var x, y []float64
	for i := 0; i < 200; i++ {
		x = append(x, rng.NormFloat64())
		y = append(y, rng.NormFloat64()+1)
	}
	if _, p := MannWhitney(x, y); p > 1e-10 {
		t.Errorf("shifted by one sd, p = %g", p)
	}
	if _, p := MannWhitney(x, x); p != 1 {
		t.Errorf("same sample, p = %g", p)
	}
	// Heavy ties: both all equal.
	same := []float64{1, 1, 1, 1, 1, 1}
	if _, p := MannWhitney(same, same); p != 1 {
		t.Errorf("all tied, p = %g", p)
	}
	// Ties force the approximation even for small samples; it must stay a probability.
	_, p := MannWhitney([]float64{1, 1, 2, 2, 3}, []float64{2, 3, 3, 4, 4})
	if p <= 0 || p > 1 {
		t.Errorf("p = %g", p)
	}
	if _, p := MannWhitney(nil, x); p != 1 {
		t.Error("empty sample")
	}
}

func TestMannWhitneyExactMatchesApproximationForLargerSamples(t *testing.T) {
	// At n = 25 + 25 without ties, the exact and the normal p-values should be close.
	rng := rand.New(rand.NewPCG(9, 9))
	var x, y []float64
	for i := 0; i < 25; i++ {
		x = append(x, rng.Float64())
		y = append(y, rng.Float64()+0.2)
	}
	u, exact := MannWhitney(x, y)
	n1, n2 := 25.0, 25.0
	z := (math.Abs(u-n1*n2/2) - 0.5) / math.Sqrt(n1*n2*(n1+n2+1)/12)
	approx := math.Erfc(z / math.Sqrt2)
	if math.Abs(exact-approx) > 0.01 {
		t.Errorf("exact %g, normal %g", exact, approx)
	}
}
