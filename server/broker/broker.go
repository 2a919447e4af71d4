package broker

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	zmq "github.com/pebbe/zmq4"
	"golang.org/x/sys/unix"

	"github.com/pushlab/pushlab/internal/wire"
)

// Defaults for the zero values of Config (protocol.md §2.9, §12).
const (
	DefaultMaxSkew   = 300 * time.Second
	DefaultZAPWindow = 60 * time.Second
)

// maxSockets is ZMQ_MAX_SOCKETS of the broker's context. Every ZeroMQ socket costs at least one
// file descriptor (its mailbox), so under the 20,000-descriptor limit more than this can never
// be open; it is set before the first socket, as libzmq ignores later changes.
const maxSockets = 16384

// listenBacklog is ZMQ_BACKLOG of the PUB and ROUTER listeners (the kernel caps it at
// net.core.somaxconn). libzmq accepts one connection per turn of an I/O thread's event loop, so
// while a busy I/O thread works through thousands of connections, new ones wait in the kernel's
// accept queue. With libzmq's default of 100 that queue overflows when a fleet joins: the kernel
// drops the handshake's last ACK, the client's TCP retransmits after 200 ms, 400 ms, 800 ms...,
// and a node can wait seconds for its ZMTP greeting, long enough for the real client to give up
// on a silent command channel (about 4 s) and reconfigure, which adds more connections.
const listenBacklog = 4096

// defaultIOThreads is the number of libzmq I/O threads when Config.IOThreads is 0: the CURVE
// handshakes, encryption and PUB fan-out of thousands of connections are spread over the CPUs.
func defaultIOThreads() int { return max(1, min(4, runtime.NumCPU())) }

// maxQueued bounds the outbound queue: Send fails with ErrQueueFull beyond it.
const maxQueued = 1 << 17

// Errors returned by Send and AdmitClientKey.
var (
	ErrClosed      = errors.New("broker: closed")
	ErrUnknownNode = errors.New("broker: node has not sent a valid message yet (no ZeroMQ identity)")
	ErrNoKey       = errors.New("broker: no session key for node")
	ErrQueueFull   = errors.New("broker: outbound queue full")
	ErrBadKey      = errBadZ85
)

// Config configures a Broker. Zero values of MaxBodySize, MaxSkew and ZAPWindow take the
// defaults of the real server.
type Config struct {
	ListenHost        string        // e.g. "127.0.0.1" or "*"
	HeartbeatPort     int           // PUB; 0 binds an ephemeral port (see HeartbeatPort)
	CommandPort       int           // ROUTER; 0 binds an ephemeral port (see CommandPort)
	HeartbeatInterval time.Duration // server heartbeat period
	ServerName        string        // "server" field of heartbeats
	IncarnationID     string
	SigningKey        *rsa.PrivateKey // rsa2048_sha1 signing of heartbeats
	CurveDisabled     bool            // plain ROUTER (the real server's disable_curve_encryption)
	MaxBodySize       int             // 0 = wire.DefaultMaxBodySize
	MaxSkew           time.Duration   // message timestamp skew allowed (0 = 300 s)
	ZAPWindow         time.Duration   // a client key is admitted for this long after its config request (0 = 60 s)
	IOThreads         int             // libzmq I/O threads (0 = one per CPU, at most 4)
	Log               *slog.Logger
}

// SessionKeys resolves the HMAC key handed out with a node's config. false means the node never
// fetched config, and its messages are dropped.
type SessionKeys interface {
	SessionKey(org, node string) ([]byte, bool)
}

// Inbound is a verified node message.
type Inbound struct {
	Org, Node string
	// NewIdentity: the message came from a ZeroMQ identity other than the one this (org, node)
	// used for its last valid message. The first valid message of a node reports false: the
	// node FSM it creates answers with abort, not ack (protocol.md §4.2, §4.5).
	NewIdentity bool
	Msg         *wire.NodeMessage
}

// Handler receives verified node messages, one at a time, in arrival order. HandleNode should
// return quickly: the next message waits for it.
type Handler interface {
	HandleNode(Inbound)
}

type nodeKey struct{ org, node string }

// outMsg is one server→node message ready for the ROUTER.
type outMsg struct {
	identity     string
	header, body []byte
}

// Broker owns the ZeroMQ side of the server: the PUB heartbeat socket, the ROUTER command
// socket and the ZAP handler, each in its own ZeroMQ context so several brokers can live in
// one process.
type Broker struct {
	cfg     Config
	log     *slog.Logger
	keys    SessionKeys
	handler Handler
	now     func() time.Time

	ctx        *zmq.Context
	curvePub   string
	heartPort  int
	cmdPort    int
	adm        admissions
	stats      counters
	inbound    chan []inMsg
	done       chan struct{}
	wg         sync.WaitGroup
	closeOnce  sync.Once
	closeErr   error
	epfd       int
	wakefd     int
	closedFlag atomic.Bool
	stamp      atomic.Pointer[stampCache]

	// Outbound queue, filled by Send and drained by the I/O goroutine.
	qmu    sync.Mutex
	queue  []outMsg
	closed bool // under qmu: no more wake-ups once set

	// Last ZeroMQ identity of every node that sent a valid message.
	idmu sync.RWMutex
	ids  map[nodeKey]string
}

// New binds the PUB and ROUTER sockets, starts the ZAP handler (unless CurveDisabled), the
// heartbeat publisher and the command-channel loops.
func New(cfg Config, keys SessionKeys, h Handler) (*Broker, error) {
	return newBroker(cfg, keys, h, time.Now)
}

// newBroker is New with a clock, which tests replace.
func newBroker(cfg Config, keys SessionKeys, h Handler, now func() time.Time) (*Broker, error) {
	if err := cfg.check(keys, h); err != nil {
		return nil, err
	}
	if cfg.MaxBodySize <= 0 {
		cfg.MaxBodySize = wire.DefaultMaxBodySize
	}
	if cfg.MaxSkew <= 0 {
		cfg.MaxSkew = DefaultMaxSkew
	}
	if cfg.ZAPWindow <= 0 {
		cfg.ZAPWindow = DefaultZAPWindow
	}
	if cfg.IOThreads <= 0 {
		cfg.IOThreads = defaultIOThreads()
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Broker{
		cfg: cfg, log: log, keys: keys, handler: h, now: now,
		inbound: make(chan []inMsg, 64),
		done:    make(chan struct{}),
		ids:     map[nodeKey]string{},
		epfd:    -1, wakefd: -1,
	}
	b.adm.keys = map[[32]byte]time.Time{}
	var err error
	if b.ctx, err = zmq.NewContext(); err != nil {
		return nil, fmt.Errorf("broker: zmq context: %w", err)
	}
	if err := b.ctx.SetMaxSockets(maxSockets); err != nil {
		b.ctx.Term()
		return nil, fmt.Errorf("broker: setting max sockets: %w", err)
	}
	if err := b.ctx.SetIoThreads(cfg.IOThreads); err != nil {
		b.ctx.Term()
		return nil, fmt.Errorf("broker: setting I/O threads: %w", err)
	}
	s, err := b.open()
	if err != nil {
		s.close()
		if b.epfd >= 0 {
			unix.Close(b.epfd)
		}
		if b.wakefd >= 0 {
			unix.Close(b.wakefd)
		}
		b.ctx.Term()
		return nil, err
	}
	b.wg.Add(3)
	go b.ioLoop(s.router)
	go b.dispatch()
	go b.heartbeats(s.pub)
	if s.zap != nil {
		b.wg.Add(1)
		go b.zapLoop(s.zap)
	}
	log.Debug("broker started", "heartbeat_port", b.heartPort, "command_port", b.cmdPort, "curve", !cfg.CurveDisabled)
	return b, nil
}

func (c *Config) check(keys SessionKeys, h Handler) error {
	var errs []error
	if c.ListenHost == "" {
		errs = append(errs, errors.New("listen host must be set"))
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"heartbeat port", c.HeartbeatPort}, {"command port", c.CommandPort}} {
		if p.v < 0 || p.v > 65535 {
			errs = append(errs, fmt.Errorf("%s %d out of range", p.name, p.v))
		}
	}
	if c.HeartbeatInterval <= 0 {
		errs = append(errs, fmt.Errorf("heartbeat interval must be positive, got %s", c.HeartbeatInterval))
	}
	if c.SigningKey == nil {
		errs = append(errs, errors.New("signing key must be set"))
	}
	if keys == nil {
		errs = append(errs, errors.New("session keys must be set"))
	}
	if h == nil {
		errs = append(errs, errors.New("handler must be set"))
	}
	if !c.CurveDisabled && !zmq.HasCurve() {
		errs = append(errs, errors.New("libzmq has no CURVE support"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	return nil
}

// sockets are the broker's ZeroMQ sockets while New sets them up.
type sockets struct{ pub, router, zap *zmq.Socket }

func (s sockets) close() {
	for _, so := range []*zmq.Socket{s.router, s.zap, s.pub} {
		if so != nil {
			so.Close()
		}
	}
}

// open creates and binds the sockets and the epoll set of the I/O loop.
func (b *Broker) open() (s sockets, err error) {
	cfg := b.cfg
	ipv6 := strings.Contains(cfg.ListenHost, ":")
	host := cfg.ListenHost
	if ipv6 {
		host = "[" + host + "]"
	}
	endpoint := func(port int) string {
		if port == 0 {
			return "tcp://" + host + ":*"
		}
		return "tcp://" + host + ":" + strconv.Itoa(port)
	}

	if s.pub, err = b.ctx.NewSocket(zmq.PUB); err != nil {
		return s, fmt.Errorf("broker: PUB socket: %w", err)
	}
	if err = setListener(s.pub, ipv6); err != nil {
		return s, fmt.Errorf("broker: PUB options: %w", err)
	}
	if b.heartPort, err = bind(s.pub, endpoint(cfg.HeartbeatPort)); err != nil {
		return s, fmt.Errorf("broker: heartbeat %w", err)
	}

	if !cfg.CurveDisabled {
		// The ZAP handler must be bound before the ROUTER accepts its first handshake.
		if s.zap, err = b.ctx.NewSocket(zmq.REP); err != nil {
			return s, fmt.Errorf("broker: ZAP socket: %w", err)
		}
		if err = s.zap.SetLinger(0); err == nil {
			err = s.zap.SetRcvtimeo(zapPoll) // so that zapLoop notices Close
		}
		if err != nil {
			return s, fmt.Errorf("broker: ZAP options: %w", err)
		}
		if err = s.zap.Bind(zapEndpoint); err != nil {
			return s, fmt.Errorf("broker: ZAP bind: %w", err)
		}
	}

	if s.router, err = b.ctx.NewSocket(zmq.ROUTER); err != nil {
		return s, fmt.Errorf("broker: ROUTER socket: %w", err)
	}
	if err = setListener(s.router, ipv6); err != nil {
		return s, fmt.Errorf("broker: ROUTER options: %w", err)
	}
	// Unroutable sends and full peer queues become errors that are counted, not silent drops.
	if err = s.router.SetRouterMandatory(1); err != nil {
		return s, fmt.Errorf("broker: ROUTER options: %w", err)
	}
	if !cfg.CurveDisabled {
		pub, sec, kerr := zmq.NewCurveKeypair()
		if kerr != nil {
			return s, fmt.Errorf("broker: CURVE key pair: %w", kerr)
		}
		b.curvePub = pub
		if err = s.router.SetCurveServer(1); err == nil {
			err = s.router.SetCurveSecretkey(sec)
		}
		if err == nil {
			err = s.router.SetZapDomain("pushy")
		}
		if err != nil {
			return s, fmt.Errorf("broker: ROUTER CURVE options: %w", err)
		}
	}
	if b.cmdPort, err = bind(s.router, endpoint(cfg.CommandPort)); err != nil {
		return s, fmt.Errorf("broker: command %w", err)
	}

	if b.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return s, fmt.Errorf("broker: epoll: %w", err)
	}
	if b.wakefd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		return s, fmt.Errorf("broker: eventfd: %w", err)
	}
	if err = b.watch(b.wakefd); err != nil {
		return s, err
	}
	fd, err := s.router.GetFd()
	if err != nil {
		return s, fmt.Errorf("broker: ZMQ_FD: %w", err)
	}
	if err = b.watch(fd); err != nil {
		return s, err
	}
	return s, nil
}

func (b *Broker) watch(fd int) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
	if err := unix.EpollCtl(b.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("broker: epoll add: %w", err)
	}
	return nil
}

// setListener sets the options of a socket that nodes connect to.
func setListener(s *zmq.Socket, ipv6 bool) error {
	if err := s.SetLinger(0); err != nil {
		return err
	}
	if err := s.SetBacklog(listenBacklog); err != nil {
		return err
	}
	if ipv6 {
		return s.SetIpv6(true)
	}
	return nil
}

// bind binds s to endpoint and returns the port actually bound.
func bind(s *zmq.Socket, endpoint string) (int, error) {
	if err := s.Bind(endpoint); err != nil {
		return 0, fmt.Errorf("bind %s: %w", endpoint, err)
	}
	last, err := s.GetLastEndpoint()
	if err != nil {
		return 0, fmt.Errorf("bound endpoint of %s: %w", endpoint, err)
	}
	_, port, err := net.SplitHostPort(strings.TrimPrefix(last, "tcp://"))
	if err != nil {
		return 0, fmt.Errorf("bound endpoint %q: %w", last, err)
	}
	return strconv.Atoi(port)
}

// CurvePublicKey is the server's Z85 CURVE public key, fresh for every New; "" when CURVE is
// disabled.
func (b *Broker) CurvePublicKey() string { return b.curvePub }

// HeartbeatPort is the TCP port the PUB socket is bound to.
func (b *Broker) HeartbeatPort() int { return b.heartPort }

// CommandPort is the TCP port the ROUTER socket is bound to.
func (b *Broker) CommandPort() int { return b.cmdPort }

// AdmitClientKey lets the CURVE client key z85 (40 Z85 characters) complete a handshake during
// the next ZAPWindow. The config endpoint calls it for every well-formed ccpk.
func (b *Broker) AdmitClientKey(z85 string) error {
	k, err := decodeZ85Key(z85)
	if err != nil {
		return err
	}
	b.adm.admit(k, b.now(), b.cfg.ZAPWindow)
	return nil
}

// Send stamps m with seq and the current time, signs it with the node's session key and queues
// it for the node's last ZeroMQ identity. It never blocks on the network; it fails when the node
// has not sent a valid message yet, has no session key, the queue is full or the broker is
// closed. Delivery failures found later (peer gone, peer queue full) are counted in Stats.
func (b *Broker) Send(org, node string, seq int64, m wire.ServerMessage) error {
	if b.closedFlag.Load() {
		b.stats.unsent[sendClosed].Add(1)
		return ErrClosed
	}
	if m == nil {
		return errors.New("broker: nil message")
	}
	b.idmu.RLock()
	id, ok := b.ids[nodeKey{org, node}]
	b.idmu.RUnlock()
	if !ok {
		b.stats.unsent[sendUnknownNode].Add(1)
		return fmt.Errorf("%w: %s/%s", ErrUnknownNode, org, node)
	}
	key, ok := b.keys.SessionKey(org, node)
	if !ok {
		b.stats.unsent[sendNoKey].Add(1)
		return fmt.Errorf("%w: %s/%s", ErrNoKey, org, node)
	}
	body, err := wire.AppendServerMessage(make([]byte, 0, 256), m.WithStamp(seq, b.timestamp()))
	if err != nil {
		return fmt.Errorf("broker: encode %s: %w", m.MessageType(), err)
	}
	return b.enqueue(outMsg{identity: id, header: wire.SignHMAC(key, body), body: body})
}

// stampCache is the RFC 1123 timestamp of one second, formatted once.
type stampCache struct {
	sec  int64
	text string
}

// timestamp is the timestamp of an outgoing message: now, to the second.
func (b *Broker) timestamp() string {
	now := b.now()
	if c := b.stamp.Load(); c != nil && c.sec == now.Unix() {
		return c.text
	}
	c := &stampCache{sec: now.Unix(), text: wire.FormatTime(now)}
	b.stamp.Store(c)
	return c.text
}

func (b *Broker) enqueue(m outMsg) error {
	b.qmu.Lock()
	defer b.qmu.Unlock()
	switch {
	case b.closed:
		b.stats.unsent[sendClosed].Add(1)
		return ErrClosed
	case len(b.queue) >= maxQueued:
		b.stats.unsent[sendQueueFull].Add(1)
		return ErrQueueFull
	}
	b.queue = append(b.queue, m)
	if len(b.queue) == 1 {
		// The I/O loop empties the queue before it sleeps: only the first message wakes it.
		b.wake()
	}
	return nil
}

// takeQueue hands the queued messages to the I/O loop, giving back spare (an emptied slice
// from the previous round) as the new queue.
func (b *Broker) takeQueue(spare []outMsg) []outMsg {
	b.qmu.Lock()
	q := b.queue
	b.queue = spare[:0]
	b.qmu.Unlock()
	return q
}

// wake makes the I/O loop's epoll_wait return. Callers hold qmu, so the eventfd is open.
func (b *Broker) wake() {
	one := [8]byte{1}
	unix.Write(b.wakefd, one[:])
}

// Close stops every goroutine, closes every socket and terminates the ZeroMQ context. Queued
// messages are dropped. It is safe to call more than once.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.closedFlag.Store(true)
		b.qmu.Lock()
		b.closed = true
		b.queue = nil
		close(b.done)
		b.wake()
		b.qmu.Unlock()
		b.wg.Wait()
		unix.Close(b.epfd)
		unix.Close(b.wakefd)
		if err := b.ctx.Term(); err != nil {
			b.closeErr = fmt.Errorf("broker: terminating zmq context: %w", err)
		}
		b.log.Debug("broker closed")
	})
	return b.closeErr
}
