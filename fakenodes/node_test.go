package fakenodes

import (
	"fmt"
	"testing"
	"time"

	"github.com/pushlab/pushlab/internal/pushyclient"
)

func TestOneNodeDefaultSucceeds(t *testing.T) {
	e := newEnv(t)
	rec := &recorder{}
	f := e.fleet(FleetConfig{Nodes: 1, NamePrefix: "solo-", OnEvent: rec.add})
	e.waitOnline(f, 1, 10*time.Second)
	name := f.Nodes()[0].Name()
	j := e.runJob(pushyclient.JobRequest{Command: "chef-client", Nodes: []string{name}}, 10*time.Second)
	expectJob(t, j, "complete", map[string][]string{"succeeded": {name}})
	for _, typ := range []string{"ack_commit", "ack_run", "succeeded"} {
		if len(rec.sent(name, typ)) != 1 {
			t.Errorf("sent %d %s, want 1\n%s", len(rec.sent(name, typ)), typ, rec)
		}
	}
	e.eventually(5*time.Second, func() error {
		if st := f.Stats(); st.Sent["heartbeat"] < 3 || st.Received["heartbeat"] < 3 || st.Received["abort"] == 0 || st.HeartbeatVerifications == 0 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
}
