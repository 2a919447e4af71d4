package sse

import (
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestReader(t *testing.T) {
	in := ":keepalive\nevent: start\nid: job-1\ndata: {\"a\":1}\n\n\n:keepalive\nevent: job_complete\nid: job-2\ndata: {\"b\":2}"
	r := NewReader(strings.NewReader(in))
	var got []Event
	before := time.Now()
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.Received.Before(before) || ev.Received.After(time.Now()) {
			t.Fatalf("event %+v received at %v, read between %v and now", ev, ev.Received, before)
		}
		ev.Received = time.Time{}
		got = append(got, ev)
	}
	want := []Event{
		{Comment: "keepalive"},
		{Name: "start", ID: "job-1", Data: []byte(`{"a":1}`)},
		{Comment: "keepalive"},
		{Name: "job_complete", ID: "job-2", Data: []byte(`{"b":2}`)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestReadAllDropsCommentsAndJoinsData(t *testing.T) {
	evs, err := ReadAll(strings.NewReader("event: x\ndata: a\ndata: b\n\n:c\n"))
	if err != nil || len(evs) != 1 || string(evs[0].Data) != "a\nb" {
		t.Fatalf("%+v %v", evs, err)
	}
}

func FuzzReader(f *testing.F) {
	f.Add("event: a\nid: 1\ndata: {}\n\n")
	f.Fuzz(func(t *testing.T, s string) {
		r := NewReader(strings.NewReader(s))
		for i := 0; i < len(s)+2; i++ {
			if _, err := r.Next(); err != nil {
				return
			}
		}
		t.Fatal("reader did not end")
	})
}
