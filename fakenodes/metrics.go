package fakenodes

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports a fleet's counters as Prometheus metrics. stats is called on every scrape:
// a Fleet's Stats, or the sum of several worker processes' snapshots.
type Collector struct {
	stats func() Stats

	nodes, sent, received, rejected, fired, sendFull, sendLost *prometheus.Desc
	lagMax, late, ticks, configs, configErrors, reconfigures   *prometheus.Desc
	crashes, restarts, commits, verifications                  *prometheus.Desc
}

// NewCollector returns a collector over stats.
func NewCollector(stats func() Stats) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("pushlab_fleet_"+name, help, labels, nil)
	}
	return &Collector{
		stats:         stats,
		nodes:         d("nodes", "Simulated nodes by state.", "state"),
		sent:          d("messages_sent_total", "Messages sent to the server, by type.", "type"),
		received:      d("messages_received_total", "Valid messages received from the server, by type.", "type"),
		rejected:      d("messages_rejected_total", "Messages from the server dropped: frames, signature, JSON or timestamp."),
		fired:         d("behaviours_fired_total", "Times a behaviour acted, by behaviour.", "behaviour"),
		sendFull:      d("send_queue_full_total", "Sends refused at the send high-water mark (the fleet or the server is behind)."),
		sendLost:      d("send_lost_total", "Messages lost to a full send queue."),
		lagMax:        d("heartbeat_lag_max_seconds", "Worst lateness of a heartbeat timer: the fleet's own send lag."),
		late:          d("heartbeats_late_total", "Heartbeat timer turns later than a tenth of the interval."),
		ticks:         d("heartbeat_ticks_total", "Heartbeat timer turns."),
		configs:       d("config_requests_total", "Node config requests."),
		configErrors:  d("config_errors_total", "Failed node config requests."),
		reconfigures:  d("reconfigures_total", "Full reconfigures (new config, new sockets)."),
		crashes:       d("crashes_total", "Node processes killed."),
		restarts:      d("restarts_total", "Node processes restarted with a new incarnation."),
		commits:       d("commits_total", "Commit messages received (jobs seen by nodes)."),
		verifications: d("heartbeat_verifications_total", "RSA verifications of server heartbeats (one per distinct heartbeat)."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.nodes, c.sent, c.received, c.rejected, c.fired, c.sendFull, c.sendLost,
		c.lagMax, c.late, c.ticks, c.configs, c.configErrors, c.reconfigures, c.crashes, c.restarts, c.commits, c.verifications} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	for _, st := range States {
		ch <- prometheus.MustNewConstMetric(c.nodes, prometheus.GaugeValue, float64(s.ByState[st]), string(st))
	}
	for _, t := range messageTypes {
		ch <- prometheus.MustNewConstMetric(c.sent, prometheus.CounterValue, float64(s.Sent[t]), t)
		ch <- prometheus.MustNewConstMetric(c.received, prometheus.CounterValue, float64(s.Received[t]), t)
	}
	for b, v := range s.Fired {
		ch <- prometheus.MustNewConstMetric(c.fired, prometheus.CounterValue, float64(v), b)
	}
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	counter(c.rejected, s.Rejected)
	counter(c.sendFull, s.SendFull)
	counter(c.sendLost, s.SendLost)
	counter(c.late, s.LateTicks)
	counter(c.ticks, s.HeartbeatTicks)
	counter(c.configs, s.ConfigFetches)
	counter(c.configErrors, s.ConfigErrors)
	counter(c.reconfigures, s.Reconfigures)
	counter(c.crashes, s.Crashes)
	counter(c.restarts, s.Restarts)
	counter(c.commits, s.Commits)
	counter(c.verifications, s.HeartbeatVerifications)
	ch <- prometheus.MustNewConstMetric(c.lagMax, prometheus.GaugeValue, s.MaxLag.Seconds())
}
