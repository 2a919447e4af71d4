package broker

import (
	"errors"
	"syscall"

	zmq "github.com/pebbe/zmq4"
	"golang.org/x/sys/unix"
)

// recvBatch bounds the messages received in one round of the I/O loop, so that sending is not
// starved.
const recvBatch = 256

// inMsg is one message received on the ROUTER: its frames, identity first.
type inMsg [][]byte

// ioLoop owns the ROUTER socket. It sleeps in epoll_wait on its ZMQ_FD and on the wake-up
// eventfd, which is cheaper than zmq_poll, and does two things per round: send queued outbound
// messages, and pass received messages to the dispatcher in batches. ZMQ_FD is edge-like (any
// operation on a socket may consume its signal), so the loop sleeps only when the last
// operation on the socket (reading ZMQ_EVENTS, or a receive that failed with EAGAIN) said there
// is nothing to read. ZAP requests have a goroutine of their own (zapLoop): a handshake waits
// for its answer, so it must never queue behind thousands of commits.
func (b *Broker) ioLoop(router *zmq.Socket) {
	defer b.wg.Done()
	defer router.Close()
	events := make([]unix.EpollEvent, 4)
	var spare []outMsg
	var pending []inMsg // a batch the dispatcher had no room for
	var drain [8]byte
	for {
		select {
		case <-b.done:
			return
		default:
		}
		busy := false

		if out := b.takeQueue(spare); len(out) > 0 {
			for i := range out {
				b.sendOne(router, &out[i])
				out[i] = outMsg{}
			}
			spare = out
			busy = true
		} else {
			spare = out
		}

		if pending != nil {
			select {
			case b.inbound <- pending:
				pending = nil
			default:
			}
		}
		if pending == nil {
			var batch []inMsg
			// A receive that fails with EAGAIN has processed the socket's commands, as reading
			// ZMQ_EVENTS would, so it can be the last operation before sleeping.
			for len(batch) < recvBatch {
				frames, err := router.RecvMessageBytes(zmq.DONTWAIT)
				if err != nil {
					if !isAgain(err) {
						b.log.Debug("ROUTER receive failed", "err", err)
					}
					break
				}
				batch = append(batch, frames)
			}
			if len(batch) > 0 {
				busy = true
				select {
				case b.inbound <- batch:
				default:
					pending = batch
				}
			}
		} else {
			readable(router) // consume the ZMQ_FD signal so the short sleep below is not cut short
		}
		if busy {
			continue
		}

		timeout := -1
		if pending != nil {
			timeout = 1 // the dispatcher is behind: look again soon, leaving the rest in libzmq
		}
		n, err := unix.EpollWait(b.epfd, events, timeout)
		if err != nil && !errors.Is(err, syscall.EINTR) {
			b.log.Error("broker: epoll_wait failed", "err", err)
			return
		}
		for i := 0; i < n; i++ {
			if int(events[i].Fd) == b.wakefd {
				unix.Read(b.wakefd, drain[:])
			}
		}
	}
}

// sendOne writes one message to the ROUTER without blocking. With ROUTER_MANDATORY set, a
// vanished peer gives EHOSTUNREACH and a peer at its high-water mark gives EAGAIN.
func (b *Broker) sendOne(router *zmq.Socket, m *outMsg) {
	_, err := router.SendBytes([]byte(m.identity), zmq.SNDMORE|zmq.DONTWAIT)
	if err == nil {
		if _, err = router.SendBytes(m.header, zmq.SNDMORE|zmq.DONTWAIT); err == nil {
			_, err = router.SendBytes(m.body, zmq.DONTWAIT)
		}
	}
	switch {
	case err == nil:
		b.stats.sent.Add(1)
	case zmq.AsErrno(err) == zmq.EHOSTUNREACH:
		b.stats.unsent[sendUnroutable].Add(1)
		b.log.Debug("send: node's ZeroMQ identity is gone", "err", err)
	case isAgain(err):
		b.stats.unsent[sendPeerFull].Add(1)
		b.log.Debug("send: node's queue is full", "err", err)
	default:
		b.stats.unsent[sendUnroutable].Add(1)
		b.log.Debug("send failed", "err", err)
	}
}

// readable reports whether s has a message to read. Reading ZMQ_EVENTS also processes the
// socket's pending commands, which resets its ZMQ_FD.
func readable(s *zmq.Socket) bool {
	ev, err := s.GetEvents()
	return err == nil && ev&zmq.POLLIN != 0
}

func isAgain(err error) bool { return zmq.AsErrno(err) == zmq.Errno(syscall.EAGAIN) }
