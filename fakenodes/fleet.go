package fakenodes

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	zmq "github.com/pebbe/zmq4"
	"golang.org/x/sys/unix"

	"github.com/pushlab/pushlab/fakenodes/behaviour"
)

// FleetConfig describes a fleet of simulated nodes. Names, behaviours and every schedule derive
// from (Seed, node index) only, so shards of one fleet started anywhere agree without talking.
type FleetConfig struct {
	// Server is the server's base URL (the Chef server URL without /organizations/ORG).
	Server string
	Org    string

	// Nodes is how many nodes this fleet runs: indices FirstIndex .. FirstIndex+Nodes-1.
	Nodes      int
	FirstIndex int
	// NamePrefix and NameDigits name node i PREFIX%0*d (default "node-" and 5 digits).
	NamePrefix string
	NameDigits int
	// Names, when set, names node i Names[i-FirstIndex] instead.
	Names []string

	// Key is the client key of every node (a key may be shared by all nodes); KeyFor, when set,
	// gives each node its own.
	Key    *rsa.PrivateKey
	KeyFor func(name string) *rsa.PrivateKey
	// SignVersion is the Chef signing version of config requests: 1.0, 1.1 (default) or 1.3.
	SignVersion string
	// Hostname is the "client" field of the node's messages (default: the node name).
	Hostname func(name string) string

	Seed int64
	// Plan assigns behaviours; nil gives every node the default: ack every commit, succeed at
	// once with empty output.
	Plan *behaviour.Plan

	// RampRate is how many nodes start per second (default 500; negative: all at once);
	// RampJitter (0..1, default 0.5) moves each start randomly within its slot.
	RampRate   float64
	RampJitter float64

	// Loops is the number of event loops (default 2); IOThreads the libzmq I/O threads (default
	// 2, or 1 on one CPU).
	Loops     int
	IOThreads int
	// SourceAddrs spreads connections to a loopback server over this many source addresses,
	// 127.0.0.2 and up (default 32; -1: off), so ephemeral ports do not run out.
	SourceAddrs int

	// ConfigWorkers bounds concurrent config requests (default: one per CPU; each request
	// costs two RSA private-key operations, so more only starves the running nodes). The first config of a node
	// is retried ConfigRetries times (default 5), ConfigRetryDelay apart (default 30 s), as the
	// real client does; then the node fails. ConfigTimeout is the HTTP timeout (default 30 s).
	ConfigWorkers    int
	ConfigRetries    int
	ConfigRetryDelay time.Duration
	ConfigTimeout    time.Duration
	HTTPClient       *http.Client

	// CommandGrace, when set, replaces the real client's rule for a silent command channel
	// (more than 3 receive-loop iterations, each ended by a server heartbeat or 1 s, without a
	// command message) with a plain deadline after connecting.
	CommandGrace time.Duration
	// SendBacklog is how many messages a node keeps while its send queue is full (default 16;
	// -1: none, every refused message is lost as with the real client). See Node.queue.
	SendBacklog int
	// MaxBodySize is the client's max_body_size (default 63000).
	MaxBodySize int
	// AllowUnencrypted lets nodes talk to a server that offers no CURVE key (allow_unencrypted).
	AllowUnencrypted bool

	// OnEvent, when set, receives every event, from the event loops: it must be quick and safe
	// for concurrent use. Heartbeats sent and received are left out unless HeartbeatEvents.
	OnEvent         func(Event)
	HeartbeatEvents bool

	Log *slog.Logger
}

func (c *FleetConfig) defaults() {
	if c.NamePrefix == "" && c.Names == nil {
		c.NamePrefix = "node-"
	}
	if c.NameDigits == 0 {
		c.NameDigits = 5
	}
	if c.SignVersion == "" {
		c.SignVersion = "1.1"
	}
	if c.Hostname == nil {
		c.Hostname = func(name string) string { return name }
	}
	if c.RampRate == 0 {
		c.RampRate = 500
	}
	if c.RampJitter == 0 {
		c.RampJitter = 0.5
	}
	if c.Loops == 0 {
		c.Loops = 2
	}
	if c.IOThreads == 0 {
		c.IOThreads = min(2, runtime.NumCPU())
	}
	if c.SourceAddrs == 0 {
		c.SourceAddrs = 32
	}
	if c.ConfigWorkers == 0 {
		c.ConfigWorkers = runtime.NumCPU()
	}
	if c.ConfigRetries == 0 {
		c.ConfigRetries = 5
	}
	if c.ConfigRetryDelay == 0 {
		c.ConfigRetryDelay = 30 * time.Second
	}
	if c.ConfigTimeout == 0 {
		c.ConfigTimeout = 30 * time.Second
	}
	if c.SendBacklog == 0 {
		c.SendBacklog = 16
	} else if c.SendBacklog < 0 {
		c.SendBacklog = 0
	}
	if c.MaxBodySize == 0 {
		c.MaxBodySize = 63000
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Validate checks the configuration (after defaults).
func (c *FleetConfig) Validate() error {
	var errs []error
	u, err := url.Parse(c.Server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("server %q is not an http(s) URL", c.Server))
	}
	if c.Org == "" {
		errs = append(errs, errors.New("org is empty"))
	}
	if c.Nodes <= 0 {
		errs = append(errs, fmt.Errorf("nodes is %d", c.Nodes))
	}
	if c.FirstIndex < 0 {
		errs = append(errs, fmt.Errorf("first index %d is negative", c.FirstIndex))
	}
	if c.Names != nil && len(c.Names) != c.Nodes {
		errs = append(errs, fmt.Errorf("%d names for %d nodes", len(c.Names), c.Nodes))
	}
	if c.Key == nil && c.KeyFor == nil {
		errs = append(errs, errors.New("no client key"))
	}
	switch c.SignVersion {
	case "1.0", "1.1", "1.3":
	default:
		errs = append(errs, fmt.Errorf("sign version %q is not 1.0, 1.1 or 1.3", c.SignVersion))
	}
	if c.RampJitter < 0 || c.RampJitter > 1 {
		errs = append(errs, fmt.Errorf("ramp jitter %v is outside 0..1", c.RampJitter))
	}
	if c.Loops < 1 || c.IOThreads < 1 || c.ConfigWorkers < 1 {
		errs = append(errs, errors.New("loops, I/O threads and config workers must be positive"))
	}
	if c.SourceAddrs > 250 {
		errs = append(errs, fmt.Errorf("source addresses %d: at most 250", c.SourceAddrs))
	}
	if c.Plan != nil {
		if err := c.Plan.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// NodeName is the name of node index in a fleet named with prefix and digits.
func NodeName(prefix string, digits, index int) string {
	s := strconv.Itoa(index)
	if len(s) < digits {
		s = strings.Repeat("0", digits-len(s)) + s
	}
	return prefix + s
}

// FDsPerNode is what one node costs in file descriptors with libzmq: two TCP connections and
// two socket mailboxes.
const FDsPerNode = 4

// Fleet is a set of simulated nodes in this process.
type Fleet struct {
	cfg      FleetConfig
	log      *slog.Logger
	zctx     *zmq.Context
	loops    []*loop
	nodes    []*Node
	byName   map[string]*Node
	fetcher  *configFetcher
	fetchQ   chan fetchRequest
	verifier *verifier

	stats       counters
	stateCounts [10]atomic.Int64

	runCtx    context.Context
	runCancel context.CancelFunc
	started   atomic.Bool
	stopping  atomic.Bool
	stopOnce  sync.Once
	wg        sync.WaitGroup
	ramped    chan struct{}
	sources   []string
}

// NewFleet checks the configuration and prepares the nodes; nothing connects before Start.
func NewFleet(cfg FleetConfig) (*Fleet, error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := checkFDs(cfg.Nodes); err != nil {
		return nil, err
	}
	client := cfg.HTTPClient
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns = cfg.ConfigWorkers * 2
		tr.MaxIdleConnsPerHost = cfg.ConfigWorkers * 2
		client = &http.Client{Transport: tr, Timeout: cfg.ConfigTimeout}
	}
	runCtx, cancel := context.WithCancel(context.Background())
	f := &Fleet{cfg: cfg, log: cfg.Log, byName: make(map[string]*Node, cfg.Nodes), verifier: newVerifier(),
		fetchQ: make(chan fetchRequest, cfg.Nodes+16), runCtx: runCtx, runCancel: cancel, ramped: make(chan struct{}),
		fetcher: &configFetcher{client: client, base: strings.TrimRight(cfg.Server, "/"), org: cfg.Org,
			signVersion: cfg.SignVersion, rsa: machineRSA(), userAgent: "Chef Client/" + chefVersion + " (pushlab fakenodes; " + runtime.GOARCH + "-" + runtime.GOOS + ")"}}
	zctx, err := zmq.NewContext()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("ZeroMQ context: %w", err)
	}
	// both before the first socket: libzmq ignores later changes
	if err := zctx.SetMaxSockets(4*cfg.Nodes + 1024); err != nil { // closed sockets count until reaped
		cancel()
		return nil, fmt.Errorf("ZMQ_MAX_SOCKETS: %w", err)
	}
	if err := zctx.SetIoThreads(cfg.IOThreads); err != nil {
		cancel()
		return nil, fmt.Errorf("ZMQ_IO_THREADS: %w", err)
	}
	f.zctx = zctx
	for i := 0; i < cfg.Loops; i++ {
		l, err := newLoop(f, i)
		if err != nil {
			f.closeLoops()
			cancel()
			return nil, fmt.Errorf("event loop: %w", err)
		}
		f.loops = append(f.loops, l)
	}
	for i := 0; i < cfg.Nodes; i++ {
		index := cfg.FirstIndex + i
		name := NodeName(cfg.NamePrefix, cfg.NameDigits, index)
		if cfg.Names != nil {
			name = cfg.Names[i]
		}
		if _, dup := f.byName[name]; dup {
			f.closeLoops()
			cancel()
			return nil, fmt.Errorf("duplicate node name %q", name)
		}
		key := cfg.Key
		if cfg.KeyFor != nil {
			if key = cfg.KeyFor(name); key == nil {
				f.closeLoops()
				cancel()
				return nil, fmt.Errorf("no key for node %q", name)
			}
		}
		l := f.loops[i%len(f.loops)]
		n := newNode(f, l, int32(len(l.nodes)), index, name, key, cfg.Plan.Assign(cfg.Seed, index, name))
		l.nodes = append(l.nodes, n)
		f.nodes = append(f.nodes, n)
		f.byName[name] = n
	}
	f.stateCounts[stateIndex(StatePending)].Store(int64(len(f.nodes)))
	for i := 0; i < cfg.SourceAddrs; i++ {
		f.sources = append(f.sources, "127.0.0."+strconv.Itoa(2+i))
	}
	return f, nil
}

// checkFDs refuses a fleet that cannot fit the process's open-file limit.
func checkFDs(nodes int) error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return nil
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if unix.Setrlimit(unix.RLIMIT_NOFILE, &raised) == nil {
			lim = raised
		}
	}
	need := uint64(nodes)*FDsPerNode + 256
	if need > lim.Cur {
		return fmt.Errorf("%d nodes need about %d open files, the limit is %d: use fewer nodes per process (worker processes)", nodes, need, lim.Cur)
	}
	return nil
}

// MaxNodesPerProcess is how many nodes fit the process's open-file limit, with headroom.
func MaxNodesPerProcess() int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 4000
	}
	n := (int(lim.Max) - 1024) / FDsPerNode
	return max(n*9/10, 1)
}

// Start starts the event loops and config workers, and ramps the nodes up in the background.
// It returns at once; Ramped is closed once every node has been started.
func (f *Fleet) Start(ctx context.Context) error {
	if !f.started.CompareAndSwap(false, true) {
		return errors.New("fleet already started")
	}
	for _, l := range f.loops {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			l.run()
		}()
	}
	for i := 0; i < f.cfg.ConfigWorkers; i++ {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.fetchWorker()
		}()
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer close(f.ramped)
		f.ramp(ctx)
	}()
	return nil
}

// ramp starts node i at slot i/rate, moved by up to RampJitter of a slot.
func (f *Fleet) ramp(ctx context.Context) {
	t0 := time.Now()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for i, n := range f.nodes {
		if f.cfg.RampRate > 0 {
			slot := float64(time.Second) / f.cfg.RampRate
			jitter := behaviour.NodeRand(f.cfg.Seed, n.index, behaviour.StreamRamp).Float64() * f.cfg.RampJitter
			at := t0.Add(time.Duration((float64(i) + jitter) * slot))
			if d := time.Until(at); d > 0 {
				timer.Reset(d)
				select {
				case <-timer.C:
				case <-ctx.Done():
					return
				case <-f.runCtx.Done():
					return
				}
			}
		}
		if f.stopping.Load() || ctx.Err() != nil {
			return
		}
		n.l.post(n.start)
	}
}

// Ramped is closed when every node has been started (or the ramp was cut short).
func (f *Fleet) Ramped() <-chan struct{} { return f.ramped }

// WaitOnline waits until at least count nodes are online.
func (f *Fleet) WaitOnline(ctx context.Context, count int) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if int(f.stateCounts[stateIndex(StateOnline)].Load()) >= count {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d nodes online: %w", f.stateCounts[stateIndex(StateOnline)].Load(), count, ctx.Err())
		case <-tick.C:
		}
	}
}

// Stop stops every node (sockets closed, as a stopped client does) and releases the fleet.
func (f *Fleet) Stop() error {
	var err error
	f.stopOnce.Do(func() {
		f.stopping.Store(true)
		f.runCancel()
		if f.started.Load() {
			var wg sync.WaitGroup
			for _, l := range f.loops {
				wg.Add(1)
				l.post(func() {
					defer wg.Done()
					for _, n := range l.nodes {
						n.stop()
					}
					l.stopping = true
				})
			}
			wg.Wait()
			close(f.fetchQ)
			f.wg.Wait()
		}
		f.closeLoops()
		err = f.zctx.Term()
	})
	return err
}

func (f *Fleet) closeLoops() {
	for _, l := range f.loops {
		l.close()
	}
	if f.zctx != nil && !f.started.Load() {
		f.zctx.Term()
	}
}

// Node returns the node with this name, or nil.
func (f *Fleet) Node(name string) *Node { return f.byName[name] }

// Nodes returns every node, in index order.
func (f *Fleet) Nodes() []*Node { return f.nodes }

// Selector picks nodes.
type Selector func(*Node) bool

// ByName selects the named nodes.
func ByName(names ...string) Selector {
	set := map[string]bool{}
	for _, n := range names {
		set[n] = true
	}
	return func(n *Node) bool { return set[n.name] }
}

// ByGroup selects the nodes of a behaviour group.
func ByGroup(group string) Selector { return func(n *Node) bool { return n.group == group } }

// ByIndex selects nodes with lo <= index < hi.
func ByIndex(lo, hi int) Selector { return func(n *Node) bool { return n.index >= lo && n.index < hi } }

// Fraction selects about p of the nodes, chosen from (seed, index).
func Fraction(seed int64, p float64) Selector {
	return func(n *Node) bool { return behaviour.NodeRand(seed, n.index, 0x73656c).Float64() < p }
}

// Select returns the nodes sel picks (all when sel is nil).
func (f *Fleet) Select(sel Selector) []*Node {
	var out []*Node
	for _, n := range f.nodes {
		if sel == nil || sel(n) {
			out = append(out, n)
		}
	}
	return out
}

// endpoint rewrites a tcp://host:port address to connect from one of the loopback source
// addresses, when the server is on loopback.
func (f *Fleet) endpoint(addr string, index int) string {
	if len(f.sources) == 0 || !strings.HasPrefix(addr, "tcp://") {
		return addr
	}
	host, _, err := net.SplitHostPort(addr[len("tcp://"):])
	if err != nil {
		return addr
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() || ip.To4() == nil {
		return addr
	}
	return "tcp://" + f.sources[index%len(f.sources)] + ":0;" + addr[len("tcp://"):]
}

// Config requests.

type fetchRequest struct {
	node *Node
	ccpk string
	done func(*pushyConfig, error)
}

// fetch queues a config request; the queue holds one per node, the most there can be.
func (f *Fleet) fetch(r fetchRequest) {
	if f.stopping.Load() {
		return
	}
	select {
	case f.fetchQ <- r:
	default:
		go r.done(nil, fmt.Errorf("%w: request queue full", ErrConfig))
	}
}

func (f *Fleet) fetchWorker() {
	for r := range f.fetchQ {
		if f.stopping.Load() {
			continue
		}
		cfg, err := f.fetcher.fetch(f.runCtx, r.node.name, r.node.name, r.node.key, r.ccpk)
		r.done(cfg, err)
	}
}
