package broker

import (
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/pushlab/pushlab/internal/wire"
)

// heartbeats owns the PUB socket: every HeartbeatInterval (the first one interval after start,
// as timer:apply_interval does) it publishes [header, body], signed rsa2048_sha1, with a
// sequence that starts at 0.
func (b *Broker) heartbeats(pub *zmq.Socket) {
	defer b.wg.Done()
	defer pub.Close()
	ticker := time.NewTicker(b.cfg.HeartbeatInterval)
	defer ticker.Stop()
	var seq int64
	for {
		select {
		case <-b.done:
			return
		case <-ticker.C:
		}
		m := wire.NewServerHeartbeat(b.cfg.ServerName, b.cfg.IncarnationID).WithStamp(seq, wire.FormatTime(b.now()))
		header, body, err := wire.EncodeRSA(b.cfg.SigningKey, m)
		if err != nil {
			b.log.Error("heartbeat: signing failed", "err", err)
			continue
		}
		seq++
		if _, err := pub.SendMessageDontwait(header, body); err != nil {
			b.log.Debug("heartbeat: publish failed", "err", err)
			continue
		}
		b.stats.heartbeats.Add(1)
	}
}
