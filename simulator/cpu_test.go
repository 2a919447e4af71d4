package simulator

import (
	"crypto/sha256"
	"os"
	"testing"
	"time"
)

// procCPUSeconds reads what getrusage says of the same process, to within a clock tick or two.
func TestProcCPUSecondsAgreesWithRusage(t *testing.T) {
	b := make([]byte, 1<<20)
	for start := time.Now(); time.Since(start) < 200*time.Millisecond; {
		sha256.Sum256(b)
	}
	self, proc := cpuSeconds(), procCPUSeconds(os.Getpid())
	if proc < 0.1 || proc > self+0.05 || proc < self-0.05 {
		t.Fatalf("/proc says %.3f s of CPU, getrusage %.3f s", proc, self)
	}
	if got := procCPUSeconds(-1); got != 0 {
		t.Errorf("a process that does not exist used %v s", got)
	}
}

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
