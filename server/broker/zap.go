package broker

import (
	"sync"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// zapEndpoint is where libzmq asks for authentication (ZeroMQ RFC 27).
const zapEndpoint = "inproc://zeromq.zap.01"

// admissions are the client CURVE keys registered by config requests, with when they were
// registered (pushy_zap.erl: a key is good for 60 s after its config request).
type admissions struct {
	mu        sync.Mutex
	keys      map[[32]byte]time.Time
	lastPrune time.Time
}

func (a *admissions) admit(k [32]byte, now time.Time, window time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.keys[k] = now
	if now.Sub(a.lastPrune) < window {
		return
	}
	for key, at := range a.keys {
		if now.Sub(at) >= window {
			delete(a.keys, key)
		}
	}
	a.lastPrune = now
}

func (a *admissions) admitted(k []byte, now time.Time, window time.Duration) bool {
	if len(k) != 32 {
		return false
	}
	a.mu.Lock()
	at, ok := a.keys[[32]byte(k)]
	a.mu.Unlock()
	return ok && now.Sub(at) < window
}

// zapPoll is how long zapLoop waits for a request before looking whether the broker closed.
const zapPoll = 100 * time.Millisecond

// zapLoop answers ZAP requests as they come, until the broker closes.
func (b *Broker) zapLoop(zap *zmq.Socket) {
	defer b.wg.Done()
	defer zap.Close()
	for {
		select {
		case <-b.done:
			return
		default:
		}
		if err := b.handleZAP(zap); err != nil && !isAgain(err) {
			b.log.Debug("ZAP: request failed", "err", err)
		}
	}
}

// handleZAP waits up to zapPoll for a ZAP request on the REP socket and answers it: 200 for an
// admitted CURVE client key, 400 "No such client" otherwise, as the real server does.
func (b *Broker) handleZAP(zap *zmq.Socket) error {
	req, err := zap.RecvMessageBytes(0)
	if err != nil {
		return err
	}
	// [version, request id, domain, address, identity, mechanism, credentials...]
	var reqID []byte
	if len(req) > 1 {
		reqID = req[1]
	}
	status, text := "400", "No such client"
	switch {
	case len(req) < 7 || string(req[0]) != "1.0":
		status, text = "500", "Malformed request"
	case string(req[5]) == "CURVE" && b.adm.admitted(req[6], b.now(), b.cfg.ZAPWindow):
		status, text = "200", ""
	}
	if status == "200" {
		b.stats.zapAccepted.Add(1)
	} else {
		b.stats.zapRejected.Add(1)
		if len(req) >= 4 {
			b.log.Debug("ZAP: handshake refused", "status", status, "address", string(req[3]))
		}
	}
	_, err = zap.SendMessageDontwait("1.0", reqID, status, text, "", "")
	return err
}
