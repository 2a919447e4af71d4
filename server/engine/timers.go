package engine

import (
	"container/heap"
	"time"
)

// timer is one deadline of the loop's timer heap. Cancelled timers stay in the heap, marked dead,
// until they reach the top: cheaper than removal for thousands of rehab timers.
type timer struct {
	when time.Time
	seq  uint64
	fn   func()
	dead bool
}

func (t *timer) cancel() {
	if t != nil {
		t.dead = true
	}
}

type timerHeap []*timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if !h[i].when.Equal(h[j].when) {
		return h[i].when.Before(h[j].when)
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)   { *h = append(*h, x.(*timer)) }
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return t
}

// after schedules fn on the loop after d.
func (e *Engine) after(d time.Duration, fn func()) *timer {
	e.timerSeq++
	t := &timer{when: e.clock.Now().Add(d), seq: e.timerSeq, fn: fn}
	heap.Push(&e.timers, t)
	return t
}

// fireDue runs every timer whose deadline has passed.
func (e *Engine) fireDue() {
	if len(e.timers) == 0 {
		return
	}
	now := e.clock.Now()
	for len(e.timers) > 0 {
		t := e.timers[0]
		if t.when.After(now) {
			return
		}
		heap.Pop(&e.timers)
		if !t.dead {
			t.fn()
		}
	}
}

// rearm keeps one clock timer armed for the earliest live deadline.
func (e *Engine) rearm() {
	for len(e.timers) > 0 && e.timers[0].dead {
		heap.Pop(&e.timers)
	}
	if len(e.timers) == 0 {
		if e.armed != nil {
			e.armed.Stop()
			e.armed = nil
		}
		return
	}
	when := e.timers[0].when
	now := e.clock.Now()
	if e.armed != nil && e.armedAt.Equal(when) && when.After(now) {
		return
	}
	if e.armed != nil {
		e.armed.Stop()
	}
	e.armedAt = when
	e.armed = e.clock.AfterFunc(when.Sub(now), func() {
		select {
		case e.tick <- struct{}{}:
		default:
		}
	})
}
