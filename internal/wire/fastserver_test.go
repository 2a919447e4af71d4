package wire

import (
	"bytes"
	"encoding/json"
	"testing"
)

func checkAppendServer(t *testing.T, m ServerMessage) {
	t.Helper()
	want, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := AppendServerMessage([]byte("prefix"), m)
	if err != nil || !bytes.Equal(got, append([]byte("prefix"), want...)) {
		t.Fatalf("%#v:\n got %s %v\nwant prefix%s", m, got, err, want)
	}
}

func TestAppendServerMessageIsJSONMarshal(t *testing.T) {
	ts := "Mon, 23 Nov 2026 12:00:00 GMT"
	c := NewCommit("0123abcd", "server.example", "chef-client")
	for _, m := range []ServerMessage{
		NewAbort().WithStamp(1, ts), NewAck().WithStamp(-7, ts), NewRun("j1").WithStamp(99, ts),
		NewServerHeartbeat("srv", "inc").WithStamp(0, ts),
		c.WithStamp(3, ts),
		Commit{Type: TypeCommit, JobID: "j", Command: "a <b> & \"c\"\n", User: "u", Dir: "/d", File: "raw:x", Capture: true}.WithStamp(4, ts),
		Commit{Type: TypeCommit, JobID: "j", Command: "é", Env: map[string]string{"B": "2", "A": "1"}}.WithStamp(5, ts),
		Commit{Type: TypeCommit, JobID: "j", Command: "x", User: "u"}.WithStamp(6, ts),
		Run{Type: TypeRun, JobID: "\x7f"}.WithStamp(7, "bad\ttime"),
	} {
		checkAppendServer(t, m)
	}
}

func FuzzAppendServerMessage(f *testing.F) {
	f.Add("chef-client", "user", "", "raw:x", "job", int64(1), true)
	f.Add("a<b", "", "/tmp", "", "", int64(-5), false)
	f.Fuzz(func(t *testing.T, command, user, dir, file, job string, seq int64, capture bool) {
		ts := "Mon, 23 Nov 2026 12:00:00 GMT"
		checkAppendServer(t, Commit{Type: TypeCommit, JobID: job, Server: user, Command: command, User: user, Dir: dir, File: file, Capture: capture}.WithStamp(seq, ts))
		checkAppendServer(t, NewRun(job).WithStamp(seq, command))
	})
}
