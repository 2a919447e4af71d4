package broker

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/pushlab/pushlab/internal/wire"
)

const (
	benchPeers   = 1000
	benchWorkers = 4 // peer-side goroutines, each owning benchPeers/benchWorkers sockets
)

// benchFleet connects benchPeers admitted CURVE peers in their own context and has each send
// one heartbeat, so every node has a ZeroMQ identity and a finished handshake.
func benchFleet(b *testing.B, env *testEnv, handled func() int64) []*peer {
	b.Helper()
	ctx, err := zmq.NewContext()
	if err != nil {
		b.Fatal(err)
	}
	must(b, ctx.SetMaxSockets(benchPeers+64))
	b.Cleanup(func() { ctx.Term() }) // runs after the peers' own cleanups have closed them
	peers := make([]*peer, benchPeers)
	for i := range peers {
		node := fmt.Sprintf("node-%04d", i)
		env.keys.add(testOrg, node)
		pub, sec := newCurveKeys(b)
		must(b, env.b.AdmitClientKey(pub))
		peers[i] = dial(b, ctx, env, node, pub, sec)
	}
	for _, p := range peers {
		p.send(p.message(wire.TypeHeartbeat))
	}
	eventually(b, 30*time.Second, func() bool { return handled() >= benchPeers }, func() string {
		return fmt.Sprintf("only %d of %d peers got through", handled(), benchPeers)
	})
	return peers
}

// BenchmarkInbound measures node→server messages per second through receive, header parsing,
// JSON decoding, session-key lookup, HMAC verification and the skew check to the Handler, with
// 1,000 CURVE peers sending at once.
func BenchmarkInbound(b *testing.B) {
	h := &counter{}
	env := startEnvWith(b, func(c *Config) { c.HeartbeatInterval = time.Second }, h)
	peers := benchFleet(b, env, h.n.Load)

	type frames struct{ header, body []byte }
	msgs := make([]frames, len(peers))
	for i, p := range peers {
		hdr, body, err := wire.EncodeHMAC(p.key, p.message(wire.TypeHeartbeat))
		must(b, err)
		msgs[i] = frames{hdr, body}
	}
	base := h.n.Load()
	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < benchWorkers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			n := b.N / benchWorkers
			if w < b.N%benchWorkers {
				n++
			}
			per := len(peers) / benchWorkers
			for j := 0; j < n; j++ {
				k := (j%per)*benchWorkers + w // the sockets of worker w
				p := peers[k]
				if _, err := p.s.SendBytes(msgs[k].header, zmq.SNDMORE); err != nil {
					b.Error(err)
					return
				}
				if _, err := p.s.SendBytes(msgs[k].body, 0); err != nil {
					b.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	eventually(b, 60*time.Second, func() bool { return h.n.Load()-base >= int64(b.N) }, func() string {
		return fmt.Sprintf("handled %d of %d", h.n.Load()-base, b.N)
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if d := env.b.Stats().TotalDropped(); d != 0 {
		b.Fatalf("%d messages dropped", d)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
}

// cpuTime is the CPU time (user + system) this process has used: both sides of the benchmark,
// libzmq's threads included.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSend measures server→node messages per second: Send (stamp, JSON, HMAC, queue) to
// the ROUTER and on to 1,000 CURVE peers, timed until the peers have received them all.
func BenchmarkSend(b *testing.B) {
	h := &counter{}
	env := startEnvWith(b, func(c *Config) { c.HeartbeatInterval = time.Second }, h)
	peers := benchFleet(b, env, h.n.Load)

	var received atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < benchWorkers; w++ {
		poller := zmq.NewPoller()
		for k := w; k < len(peers); k += benchWorkers {
			poller.Add(peers[k].s, zmq.POLLIN)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ready, err := poller.Poll(50 * time.Millisecond)
				if err != nil {
					b.Error(err)
					return
				}
				for _, r := range ready {
					for {
						if _, err := r.Socket.RecvMessageBytes(zmq.DONTWAIT); err != nil {
							break
						}
						received.Add(1)
					}
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()

	commit := wire.NewCommit("3f1c4a0e-6f0b-4c51-9d1e-7a3f0b2d9c11", "pushlab", "chef-client")
	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		p := peers[i%len(peers)]
		for {
			err := env.b.Send(testOrg, p.node, int64(i), commit)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrQueueFull) {
				b.Fatal(err)
			}
			runtime.Gosched()
		}
	}
	sendElapsed := time.Since(start)
	lost := func() int64 {
		st := env.b.Stats()
		return int64(st.Unsent[SendPeerFull] + st.Unsent[SendUnroutable])
	}
	eventually(b, 60*time.Second, func() bool { return received.Load()+lost() >= int64(b.N) }, func() string {
		return fmt.Sprintf("peers received %d of %d (%d lost)", received.Load(), b.N, lost())
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if l := lost(); l != 0 {
		b.Logf("%d messages not delivered (peer queues full)", l)
	}
	b.ReportMetric(float64(b.N)/sendElapsed.Seconds(), "sends/s")
	b.ReportMetric(float64(received.Load())/elapsed.Seconds(), "delivered/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
}
