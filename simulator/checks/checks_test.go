package checks

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// feed builds events name(node,status) with ids job-1.. and increasing timestamps.
func feed(specs ...string) []Event {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var evs []Event
	for i, s := range specs {
		name, args, _ := strings.Cut(s, "(")
		args = strings.TrimSuffix(args, ")")
		d := map[string]any{"timestamp": t0.Add(time.Duration(i) * time.Millisecond).Format(SSETimeLayout)}
		parts := strings.Split(args, ",")
		switch name {
		case "start":
			d["node_count"] = len(parts)
		case "quorum_vote", "run_complete":
			d["node"], d["status"] = parts[0], parts[1]
		case "run_start", "rehab":
			d["node"] = parts[0]
		case "job_complete":
			d["status"] = parts[0]
		}
		b := []byte(`{"timestamp":"` + d["timestamp"].(string) + `"`)
		delete(d, "timestamp")
		rest, _ := json.Marshal(d)
		if len(rest) > 2 {
			b = append(b, ',')
			b = append(b, rest[1:len(rest)-1]...)
		}
		b = append(b, '}')
		evs = append(evs, Event{Name: name, ID: fmt.Sprintf("job-%d", i+1), Data: b})
	}
	return evs
}

func TestCanonicalSequencesPass(t *testing.T) {
	cases := []struct {
		name    string
		events  []Event
		outcome JobOutcome
	}{
		{"success", feed("start(D)", "quorum_vote(D,success)", "quorum_succeeded", "run_start(D)", "run_complete(D,success)", "job_complete(complete)"),
			JobOutcome{Status: "complete", Nodes: map[string][]string{"succeeded": {"D"}}, Quorum: 1}},
		{"nack", feed("start(D)", "quorum_vote(D,failure)", "job_complete(quorum_failed)"),
			JobOutcome{Status: "quorum_failed", Nodes: map[string][]string{"nacked": {"D"}}, Quorum: 1}},
		{"nonexistent node", feed("start(D)", "quorum_vote(D,down)", "rehab(D)", "job_complete(quorum_failed)"),
			JobOutcome{Status: "quorum_failed", Nodes: map[string][]string{"unavailable": {"D"}}, Quorum: 1}},
		{"run ignored", feed("start(D)", "quorum_vote(D,success)", "quorum_succeeded", "job_complete(timed_out)"),
			JobOutcome{Status: "timed_out", Nodes: map[string][]string{"timed_out": {"D"}}, Quorum: 1}},
		{"ready node lost during voting", feed("start(D,F)", "quorum_vote(D,success)", "rehab(D)", "quorum_vote(D,lost_availibility)", "quorum_vote(F,failure)", "job_complete(quorum_failed)"),
			JobOutcome{Status: "quorum_failed", Nodes: map[string][]string{"unavailable": {"D"}, "nacked": {"F"}}, Quorum: 2}},
		{"ready node down during voting", feed("start(D,F)", "quorum_vote(D,success)", "quorum_vote(D,down)", "rehab(D)", "quorum_vote(F,failure)", "job_complete(quorum_failed)"),
			JobOutcome{Status: "quorum_failed", Nodes: map[string][]string{"unavailable": {"D"}, "nacked": {"F"}}, Quorum: 2}},
		{"nack_run", feed("start(D)", "quorum_vote(D,success)", "quorum_succeeded", "rehab(D)", "run_complete(D,run_nacked)", "job_complete(complete)"),
			JobOutcome{Status: "complete", Nodes: map[string][]string{"failed": {"D"}}, Quorum: 1}},
		{"two nodes interleaved", feed("start(D,F)", "quorum_vote(F,success)", "quorum_vote(D,success)", "quorum_succeeded", "run_start(D)", "run_start(F)", "run_complete(F,failure)", "run_complete(D,success)", "job_complete(complete)"),
			JobOutcome{Status: "complete", Nodes: map[string][]string{"succeeded": {"D"}, "failed": {"F"}}, Quorum: 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if vs := JobFeed(c.events, &c.outcome); len(vs) != 0 {
				t.Fatalf("violations: %v", vs)
			}
			if vs := Outcome(c.outcome); len(vs) != 0 {
				t.Fatalf("outcome violations: %v", vs)
			}
		})
	}
}

// TestBrokenSequencesFail: every mutation a wrong server could make is caught, with its rule.
func TestBrokenSequencesFail(t *testing.T) {
	ok := JobOutcome{Status: "complete", Nodes: map[string][]string{"succeeded": {"D"}}, Quorum: 1}
	good := feed("start(D)", "quorum_vote(D,success)", "quorum_succeeded", "run_start(D)", "run_complete(D,success)", "job_complete(complete)")
	swap := func(evs []Event, i, j int) []Event {
		out := append([]Event(nil), evs...)
		out[i].Name, out[j].Name = out[j].Name, out[i].Name
		out[i].Data, out[j].Data = out[j].Data, out[i].Data
		return out
	}
	dupID := append([]Event(nil), good...)
	dupID[3].ID = "job-3"
	backwards := append([]Event(nil), good...)
	backwards[4].Data = json.RawMessage(strings.Replace(string(backwards[4].Data), "00:00:00.004000", "00:00:00.000000", 1))
	cases := []struct {
		name    string
		events  []Event
		outcome JobOutcome
		rule    string
	}{
		{"run_start before quorum_succeeded", swap(good, 2, 3), ok, "sse-order"},
		{"duplicate id", dupID, ok, "sse-unique-ids"},
		{"timestamps go back", backwards, ok, "sse-timestamps"},
		{"missing job_complete", good[:5], ok, "sse-complete"},
		{"event after job_complete", append(append([]Event(nil), good...), feed("start(D)", "quorum_vote(D,success)", "quorum_succeeded", "run_start(D)", "run_complete(D,success)", "job_complete(complete)", "rehab(D)")[6]), ok, "sse-order"},
		{"wrong final status", good, JobOutcome{Status: "timed_out", Nodes: map[string][]string{"timed_out": {"D"}}, Quorum: 1}, "sse-final"},
		{"run_complete disagrees with the node", good, JobOutcome{Status: "complete", Nodes: map[string][]string{"crashed": {"D"}}, Quorum: 1}, "sse-counts"},
		{"missing run_complete", feed("start(D)", "quorum_vote(D,success)", "quorum_succeeded", "run_start(D)", "job_complete(complete)"), ok, "sse-complete"},
		{"start not first", swap(good, 0, 1), ok, "sse-order"},
		{"unavailable although it voted success and stayed", feed("start(D,F)", "quorum_vote(D,success)", "quorum_vote(F,failure)", "job_complete(quorum_failed)"),
			JobOutcome{Status: "quorum_failed", Nodes: map[string][]string{"unavailable": {"D"}, "nacked": {"F"}}, Quorum: 2}, "sse-complete"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vs := JobFeed(c.events, &c.outcome)
			for _, v := range vs {
				if v.Rule == c.rule {
					return
				}
			}
			t.Fatalf("no %s violation in %v", c.rule, vs)
		})
	}
}

func TestOutcome(t *testing.T) {
	bad := []JobOutcome{
		{Status: "complete", Nodes: map[string][]string{"running": {"a"}}},
		{Status: "quorum_failed", Nodes: map[string][]string{"succeeded": {"a"}}},
		{Status: "timed_out", Nodes: map[string][]string{"succeeded": {"a"}}},
		{Status: "complete", Nodes: map[string][]string{"was_ready": {"a"}}},
		{Status: "weird", Nodes: map[string][]string{}},
	}
	for _, o := range bad {
		if len(Outcome(o)) == 0 {
			t.Errorf("%+v accepted", o)
		}
	}
}

func TestResumed(t *testing.T) {
	full := feed("start(D)", "quorum_vote(D,success)", "quorum_succeeded", "run_start(D)", "run_complete(D,success)", "job_complete(complete)")
	if vs := Resumed(full, full[3:], "job-3"); len(vs) != 0 {
		t.Fatal(vs)
	}
	if vs := Resumed(full, full, "job-3"); len(vs) == 0 {
		t.Fatal("Last-Event-ID ignored but accepted")
	}
	if vs := Resumed(full, full[4:], "job-3"); len(vs) == 0 {
		t.Fatal("missing event accepted")
	}
}

func TestOrgFeed(t *testing.T) {
	mk := func(name, id, job string) Event {
		return Event{Name: name, ID: id, Data: json.RawMessage(`{"timestamp":"2026-01-01 00:00:00.000000Z","job":"` + job + `"}`)}
	}
	good := []Event{mk("start_of_history", "start_id", ""), mk("start", "org-1", "a"), mk("start", "org-2", "b"), mk("job_complete", "org-3", "a"), mk("job_complete", "org-4", "b")}
	if vs := OrgFeed(good); len(vs) != 0 {
		t.Fatal(vs)
	}
	bad := []Event{mk("start", "org-2", "a"), mk("quorum_vote", "org-3", "a"), mk("job_complete", "org-1", "a")}
	if vs := OrgFeed(bad); len(vs) < 2 {
		t.Fatalf("broken org feed accepted: %v", vs)
	}
}
