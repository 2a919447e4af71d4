package launch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Server is a Push Jobs server that pushlab started and may disturb.
type Server interface {
	// URL is the REST base URL, e.g. http://127.0.0.1:10003.
	URL() string
	// Kill stops the server at once (SIGKILL): nothing is flushed, sockets just vanish.
	Kill(ctx context.Context) error
	// Pause freezes the server (SIGSTOP, or the container's cgroup freezer); Resume thaws it.
	Pause(ctx context.Context) error
	Resume(ctx context.Context) error
	// Restart stops the server (gracefully unless it is already dead) and starts it again with
	// the same data and ports, returning once it answers its readiness probe.
	Restart(ctx context.Context) error
	// Stop stops the server for good.
	Stop(ctx context.Context) error
}

// Options are what a started server is given. Ports left at 0 are chosen once, free on Host,
// and kept over restarts so that clients keep their URLs.
type Options struct {
	DataDir       string
	Org           string
	Host          string // default 127.0.0.1
	RESTPort      int
	HeartbeatPort int
	CommandPort   int
	// Args are further `pushlab server` flags (timings, for example).
	Args []string
	// ReadyPath is polled until it answers 200; default /pushy/_status.
	ReadyPath string
	// ReadyTimeout bounds each start; default 60 s.
	ReadyTimeout time.Duration
}

func (o *Options) defaults() error {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.ReadyPath == "" {
		o.ReadyPath = "/pushy/_status"
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 60 * time.Second
	}
	if o.Org == "" {
		o.Org = "pushlab"
	}
	used := map[int]bool{}
	for _, p := range []*int{&o.RESTPort, &o.HeartbeatPort, &o.CommandPort} {
		if *p != 0 {
			used[*p] = true
		}
	}
	for _, p := range []*int{&o.RESTPort, &o.HeartbeatPort, &o.CommandPort} {
		for *p == 0 {
			port, err := freePort(o.Host)
			if err != nil {
				return err
			}
			if !used[port] {
				*p = port
				used[port] = true
			}
		}
	}
	return nil
}

// serverArgs are the `pushlab server` arguments for o with its data in dataDir.
func (o *Options) serverArgs(dataDir string) []string {
	args := []string{"server",
		"--data-dir", dataDir,
		"--org", o.Org,
		"--listen", net.JoinHostPort(o.Host, strconv.Itoa(o.RESTPort)),
		"--zmq-listen", o.Host,
		"--advertise-host", o.Host,
		"--heartbeat-port", strconv.Itoa(o.HeartbeatPort),
		"--command-port", strconv.Itoa(o.CommandPort),
	}
	return append(args, o.Args...)
}

func (o *Options) url() string {
	return "http://" + net.JoinHostPort(o.Host, strconv.Itoa(o.RESTPort))
}

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("choosing a port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// errExited is returned by waitReady when the server ended before it was ready.
var errExited = errors.New("the server exited before it was ready")

// waitReady polls url until it answers 200, the timeout passes, or exited is closed.
func waitReady(ctx context.Context, url string, timeout time.Duration, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s answered %d", url, resp.StatusCode)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %w", timeout, last)
		case <-exited:
			return errExited
		case <-tick.C:
		}
	}
}
