package fakenodes

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Two views of the same slot files behave like two processes (flock locks belong to the open
// file): together they never run more operations at once than there are slots.
func TestRSASlotsBoundTheMachine(t *testing.T) {
	dir := t.TempDir()
	a, err := openRSASlots(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	b, err := openRSASlots(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	var running, most atomic.Int32
	var wg sync.WaitGroup
	for i := range 12 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.do(func() error {
				n := running.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				time.Sleep(5 * time.Millisecond)
				running.Add(-1)
				return nil
			})
		}()
	}
	wg.Wait()
	if m := most.Load(); m != 2 {
		t.Fatalf("%d operations at once on 2 slots", m)
	}
	var none *rsaSlots // no slot files: no limit, fn still runs
	ran := false
	if err := none.do(func() error { ran = true; return nil }); err != nil || !ran {
		t.Fatal("nil slots did not run fn")
	}
}
