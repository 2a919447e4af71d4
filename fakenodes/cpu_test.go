package fakenodes

import (
	"crypto/sha256"
	"os"
	"testing"
	"time"
)

// ProcessCPU reads what getrusage says of the same process, to within a clock tick or two.
func TestProcessCPUAgreesWithRusage(t *testing.T) {
	b := make([]byte, 1<<20)
	// burn CPU time, not wall time: on a loaded machine 200 ms of wall time is less CPU
	for end := time.Now().Add(10 * time.Second); SelfCPU() < 0.2 && time.Now().Before(end); {
		sha256.Sum256(b)
	}
	self, proc := SelfCPU(), ProcessCPU(os.Getpid())
	if proc < 0.1 || proc > self+0.05 || proc < self-0.05 {
		t.Fatalf("/proc says %.3f s of CPU, getrusage %.3f s", proc, self)
	}
	if got := ProcessCPU(-1); got != 0 {
		t.Errorf("a process that does not exist used %v s", got)
	}
}
