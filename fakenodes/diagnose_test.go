package fakenodes

import (
	"strings"
	"testing"
	"time"
)

func TestDiagnose(t *testing.T) {
	prev := Stats{Sent: map[string]int64{"heartbeat": 1000}, HeartbeatTicks: 1000, LateTicks: 10}
	calm := Stats{Sent: map[string]int64{"heartbeat": 2000}, HeartbeatTicks: 2000, LateTicks: 20, SendFull: 5}
	if w := Diagnose(prev, calm, 5*time.Second, 1, 2); len(w) != 0 {
		t.Fatalf("a calm fleet: %v", w)
	}
	busy := Stats{Sent: map[string]int64{"heartbeat": 2000}, HeartbeatTicks: 2000, LateTicks: 300, SendFull: 100, SendLost: 3,
		AnswerWait: [6]int64{10, 0, 0, 0, 2, 1}}
	w := Diagnose(prev, busy, 5*time.Second, 9, 2)
	want := []string{"fleet CPU above 80 %", "fleet overloaded", "messages lost to full send queues", "send queues at the high-water mark",
		"server slow to answer new connections"}
	if len(w) != len(want) {
		t.Fatalf("got %q", w)
	}
	for i, k := range want {
		if kind, _, _ := strings.Cut(w[i], ":"); kind != k {
			t.Errorf("warning %d is %q, want kind %q", i, w[i], k)
		}
	}
}

func TestStatsAdd(t *testing.T) {
	a := Stats{Nodes: 2, ByState: map[State]int{StateOnline: 2}, Sent: map[string]int64{"heartbeat": 5}, Commits: 1, MaxLag: time.Millisecond}
	b := Stats{Nodes: 3, ByState: map[State]int{StateOnline: 1, StateDown: 2}, Sent: map[string]int64{"heartbeat": 7, "aborted": 1}, Commits: 2, MaxLag: 3 * time.Millisecond}
	s := a.Add(b)
	if s.Nodes != 5 || s.Online() != 3 || s.ByState[StateDown] != 2 || s.Sent["heartbeat"] != 12 || s.Sent["aborted"] != 1 || s.Commits != 3 || s.MaxLag != 3*time.Millisecond {
		t.Fatalf("%+v", s)
	}
	a.AnswerWait, a.AnswerWaitMax = [6]int64{1, 2}, time.Second
	b.AnswerWait, b.AnswerWaitMax = [6]int64{3, 0, 0, 0, 0, 1}, 5*time.Second
	if s := a.Add(b); s.AnswerWait != [6]int64{4, 2, 0, 0, 0, 1} || s.AnswerWaitMax != 5*time.Second {
		t.Fatalf("answer waits %v, max %s", s.AnswerWait, s.AnswerWaitMax)
	}
	if a.ByState[StateOnline] != 2 {
		t.Fatal("Add changed its receiver")
	}
}

// A heartbeat turn is late beyond a tenth of the interval, and missed a whole interval late.
func TestHeartbeatLagCounts(t *testing.T) {
	f := &Fleet{}
	n := &Node{f: f, cfg: &pushyConfig{Interval: 100 * time.Millisecond}}
	for _, lag := range []time.Duration{0, 10 * time.Millisecond, 11 * time.Millisecond, 99 * time.Millisecond, 100 * time.Millisecond, time.Second} {
		n.noteLag(lag)
	}
	st := &f.stats
	if got := [3]int64{st.ticks.Load(), st.lateTicks.Load(), st.missedTicks.Load()}; got != [3]int64{6, 4, 2} {
		t.Fatalf("ticks, late, missed = %v, want [6 4 2]", got)
	}
}
