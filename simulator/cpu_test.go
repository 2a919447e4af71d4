package simulator

import (
	"testing"
	"time"
)

func TestCPUUsePeakAndMean(t *testing.T) {
	var c cpuUse
	c.add(0.5, time.Second, 2) // 25 %
	c.add(1.5, time.Second, 2) // 75 %
	c.add(1, 0, 2)             // no time passed: ignored
	peak, mean := c.percent()
	if peak != 75 || mean != 50 {
		t.Fatalf("peak %v mean %v, want 75 and 50", peak, mean)
	}
}
