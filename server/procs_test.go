package server

import "testing"

func TestProcsFor(t *testing.T) {
	for _, c := range []struct {
		current int
		fromEnv bool
		want    int
	}{
		{1, false, minProcs},
		{2, false, minProcs},
		{minProcs, false, minProcs},
		{16, false, 16},
		{2, true, 2}, // GOMAXPROCS set by the user is kept
	} {
		if got := procsFor(c.current, c.fromEnv); got != c.want {
			t.Errorf("procsFor(%d, %v) = %d, want %d", c.current, c.fromEnv, got, c.want)
		}
	}
}
