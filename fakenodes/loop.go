package fakenodes

import (
	"container/heap"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	zmq "github.com/pebbe/zmq4"
	"golang.org/x/sys/unix"
)

// loop is one event loop of a fleet: it owns the ZeroMQ sockets and the state of its nodes.
// Socket readiness comes from epoll over each socket's ZMQ_FD, edge-triggered: after every
// readiness edge, and after every send, the socket's ZMQ_EVENTS is read again and the socket
// drained while it has input, since any ZeroMQ call may consume the edge. Work from other
// goroutines arrives through post, which wakes the loop through an eventfd.
type loop struct {
	f      *Fleet
	id     int
	epfd   int
	wakefd int

	mu     sync.Mutex
	queue  []func()
	spare  []func()
	closed bool // the descriptors are gone: posts are dropped

	timers  timerHeap
	timerSq uint64
	base    time.Time

	nodes   []*Node // by slot
	pending []*Node // nodes whose sockets may hold input not signalled by an edge
	blocked []*Node // nodes with messages waiting for room in their send queue
	tokSeq  int32
	scratch []byte
	body    []byte
	events  []unix.EpollEvent

	stopping bool
	done     chan struct{}

	maxLag atomic.Int64
}

// maxDrain bounds the messages taken from one socket per readiness, for fairness.
const maxDrain = 64

func newLoop(f *Fleet, id int) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: -1}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, err
	}
	return &loop{f: f, id: id, epfd: epfd, wakefd: wakefd, base: time.Now(), done: make(chan struct{}),
		events: make([]unix.EpollEvent, 256), scratch: make([]byte, 0, 1024), body: make([]byte, 0, 1024)}, nil
}

// post runs fn on the loop. It is safe from any goroutine; after the fleet stops it does nothing.
func (l *loop) post(fn func()) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	wake := len(l.queue) == 0
	l.queue = append(l.queue, fn)
	if wake {
		var one = [8]byte{1}
		_, _ = unix.Write(l.wakefd, one[:])
	}
	l.mu.Unlock()
}

// now is the monotonic clock of the loop's timers.
func (l *loop) now() int64 { return int64(time.Since(l.base)) }

func (l *loop) run() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(l.done)
	for {
		timeout := -1
		if len(l.pending) > 0 {
			timeout = 0
		} else if len(l.blocked) > 0 {
			timeout = 2
		}
		if timeout != 0 && len(l.timers) > 0 {
			d := l.timers[0].when - l.now()
			ms := 0
			if d > 0 {
				ms = int((d + int64(time.Millisecond) - 1) / int64(time.Millisecond))
			}
			if timeout < 0 || ms < timeout {
				timeout = ms
			}
		}
		n, err := unix.EpollWait(l.epfd, l.events, timeout)
		if err != nil && !errors.Is(err, unix.EINTR) {
			l.f.log.Error("epoll_wait failed", "loop", l.id, "err", err)
			return
		}
		for i := 0; i < n; i++ {
			ev := l.events[i]
			if ev.Fd == -1 {
				l.runQueue()
				continue
			}
			if int(ev.Fd) < len(l.nodes) {
				l.nodes[ev.Fd].readable(ev.Pad)
			}
		}
		l.runTimers()
		l.flushBlocked()
		l.drainPending()
		if l.stopping {
			return
		}
	}
}

func (l *loop) runQueue() {
	var buf [8]byte
	_, _ = unix.Read(l.wakefd, buf[:])
	for {
		l.mu.Lock()
		q := l.queue
		l.queue, l.spare = l.spare[:0], nil
		l.mu.Unlock()
		if len(q) == 0 {
			return
		}
		for i, fn := range q {
			fn()
			q[i] = nil
		}
		l.mu.Lock()
		if l.spare == nil {
			l.spare = q[:0]
		}
		l.mu.Unlock()
	}
}

func (l *loop) drainPending() {
	for len(l.pending) > 0 {
		p := l.pending
		l.pending = nil
		for _, n := range p {
			m := n.queued
			n.queued = 0
			if m&pendingSub != 0 && n.sub != nil {
				n.drain(n.sub, true)
			}
			if m&pendingDealer != 0 && n.dealer != nil {
				n.drain(n.dealer, false)
			}
		}
	}
}

func (l *loop) flushBlocked() {
	if len(l.blocked) == 0 {
		return
	}
	keep := l.blocked[:0]
	for _, n := range l.blocked {
		if n.flush() {
			n.blocked = false
		} else {
			keep = append(keep, n)
		}
	}
	clear(l.blocked[len(keep):])
	l.blocked = keep
}

// markBlocked queues n to have its outbox retried.
func (l *loop) markBlocked(n *Node) {
	if !n.blocked {
		n.blocked = true
		l.blocked = append(l.blocked, n)
	}
}

// Sockets of a node to drain before the loop sleeps.
const (
	pendingSub uint8 = 1 << iota
	pendingDealer
	pendingBoth = pendingSub | pendingDealer
)

// markPending queues sockets of n (pendingSub, pendingDealer) to be drained before the loop
// next sleeps: any ZeroMQ call on a socket may have consumed its readiness edge.
func (l *loop) markPending(n *Node, sockets uint8) {
	if n.queued == 0 {
		l.pending = append(l.pending, n)
	}
	n.queued |= sockets
}

// register adds a socket's ZMQ_FD to epoll and returns its token.
func (l *loop) register(n *Node, s *zmq.Socket) (int32, int, error) {
	fd, err := s.GetFd()
	if err != nil {
		return 0, -1, err
	}
	l.tokSeq++
	if l.tokSeq <= 0 {
		l.tokSeq = 1
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: n.slot, Pad: l.tokSeq}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return 0, -1, err
	}
	return l.tokSeq, fd, nil
}

func (l *loop) unregister(fd int) {
	if fd >= 0 {
		_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	}
}

func (l *loop) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	unix.Close(l.epfd)
	unix.Close(l.wakefd)
}

// Timers.

type timerKind uint8

const (
	timerFunc timerKind = iota
	timerHeartbeat
	timerWatchdog
	timerReconfigure
)

type timer struct {
	when  int64
	seq   uint64
	index int // in the heap; -1 when not scheduled
	n     *Node
	kind  timerKind
	life  uint32 // node life it belongs to; 0: the fleet's (survives crashes)
	dead  bool
	fleet bool // created by a fleet-level timer or Start hook
	fn    func()
}

type timerHeap []*timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].when != h[j].when {
		return h[i].when < h[j].when
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*timer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.index = -1
	return t
}

// schedule (re)arms t to fire d from now.
func (l *loop) schedule(t *timer, d time.Duration) {
	t.when = l.now() + int64(d)
	l.timerSq++
	t.seq = l.timerSq
	t.dead = false
	if t.index >= 0 && t.index < len(l.timers) && l.timers[t.index] == t {
		heap.Fix(&l.timers, t.index)
		return
	}
	heap.Push(&l.timers, t)
}

// cancel removes t if it is scheduled.
func (l *loop) cancel(t *timer) {
	t.dead = true
	if t.index >= 0 && t.index < len(l.timers) && l.timers[t.index] == t {
		heap.Remove(&l.timers, t.index)
	}
}

func (l *loop) runTimers() {
	now := l.now()
	for len(l.timers) > 0 && l.timers[0].when <= now {
		t := heap.Pop(&l.timers).(*timer)
		if t.dead {
			continue
		}
		if lag := now - t.when; t.kind == timerHeartbeat {
			t.n.noteLag(time.Duration(lag))
			if lag > l.maxLag.Load() {
				l.maxLag.Store(lag)
			}
		}
		t.n.fire(t)
	}
}
