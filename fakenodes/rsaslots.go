package fakenodes

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// rsaSlots limits the RSA private-key operations (a node signs its config request and decrypts
// its session key) running at once on the machine, across every fleet process: one per CPU.
// A fleet spread over worker processes would otherwise run one config worker per CPU in each
// process, so five workers on two cores keep ten threads busy with RSA; the server under test
// and the nodes' own I/O then get a small share of the CPUs, new connections wait seconds for
// their handshake, and nodes give up on their silent command channel (about 4 s). RSA is the
// bulk of a join, so more of it at once than there are CPUs joins no node sooner.
//
// A slot is a file under the temporary directory locked with flock (released by the kernel if
// the process dies), and a mutex for the goroutines of this process (flock locks belong to the
// open file, which this process's goroutines share).
type rsaSlots struct {
	slots []rsaSlot
	next  atomic.Uint32
}

type rsaSlot struct {
	mu sync.Mutex
	f  *os.File
}

// machineRSA is the process's view of the machine's slots; nil (no limit) when the slot files
// cannot be opened.
var machineRSA = sync.OnceValue(func() *rsaSlots {
	s, err := openRSASlots(filepath.Join(os.TempDir(), "pushlab-rsa-slots"), runtime.NumCPU())
	if err != nil {
		return nil
	}
	return s
})

func openRSASlots(dir string, n int) (*rsaSlots, error) {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, err
	}
	s := &rsaSlots{slots: make([]rsaSlot, max(n, 1))}
	for i := range s.slots {
		f, err := os.OpenFile(filepath.Join(dir, "slot-"+strconv.Itoa(i)), os.O_RDWR|os.O_CREATE, 0o666)
		if err != nil {
			for j := range i {
				s.slots[j].f.Close()
			}
			return nil, err
		}
		s.slots[i].f = f
	}
	return s, nil
}

// do runs fn holding a slot: a free one if there is, otherwise it waits for one.
func (s *rsaSlots) do(fn func() error) error {
	if s == nil {
		return fn()
	}
	n := len(s.slots)
	start := int(s.next.Add(1)) % n
	for i := range n {
		sl := &s.slots[(start+i)%n]
		if sl.mu.TryLock() {
			if flock(sl.f, unix.LOCK_EX|unix.LOCK_NB) == nil {
				return sl.run(fn)
			}
			sl.mu.Unlock()
		}
	}
	sl := &s.slots[start]
	sl.mu.Lock()
	if err := flock(sl.f, unix.LOCK_EX); err != nil {
		sl.mu.Unlock()
		return fn() // the lock itself failed: do not hold the node back for it
	}
	return sl.run(fn)
}

func (sl *rsaSlot) run(fn func() error) error {
	defer sl.mu.Unlock()
	defer flock(sl.f, unix.LOCK_UN)
	return fn()
}

func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
