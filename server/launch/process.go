package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a `pushlab server` child process.
type Process struct {
	binary string
	opts   Options
	log    io.Writer

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartProcess starts `binary server ...` with o and waits until it is ready. Its output goes
// to log (nil: discarded).
func StartProcess(ctx context.Context, binary string, o Options, log io.Writer) (*Process, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if o.DataDir == "" {
		return nil, errors.New("launch: a data dir is needed")
	}
	if log == nil {
		log = io.Discard
	}
	p := &Process{binary: binary, opts: o, log: log}
	if err := p.start(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Process) start(ctx context.Context) error {
	cmd := exec.Command(p.binary, p.opts.serverArgs(p.opts.DataDir)...)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	// Its own process group, so a terminal's ^C reaches pushlab only, which stops it itself.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", p.binary, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
	if err := waitReady(ctx, p.opts.url()+p.opts.ReadyPath, p.opts.ReadyTimeout, exited); err != nil {
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("pushlab server: %w", err)
	}
	return nil
}

// URL is the REST base URL.
func (p *Process) URL() string { return p.opts.url() }

// Options are the options in force, with the chosen ports.
func (p *Process) Options() Options { return p.opts }

// PID is the current process id.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

func (p *Process) signal(sig syscall.Signal) error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	select {
	case <-exited:
		return nil
	default:
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

func (p *Process) wait(ctx context.Context) error {
	p.mu.Lock()
	exited := p.exited
	p.mu.Unlock()
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Kill sends SIGKILL and waits for the process to end.
func (p *Process) Kill(ctx context.Context) error {
	_ = p.signal(syscall.SIGCONT) // a stopped process must not keep its sockets after death
	if err := p.signal(syscall.SIGKILL); err != nil {
		return err
	}
	return p.wait(ctx)
}

// Pause sends SIGSTOP and returns once the process is stopped.
func (p *Process) Pause(ctx context.Context) error {
	if err := p.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	return p.waitState(ctx, true)
}

// Resume sends SIGCONT and returns once the process runs again.
func (p *Process) Resume(ctx context.Context) error {
	if err := p.signal(syscall.SIGCONT); err != nil {
		return err
	}
	return p.waitState(ctx, false)
}

// waitState polls /proc/PID/stat until the process is stopped (or no longer stopped). A
// signal is delivered asynchronously, so kill(2) returning says nothing about it yet.
func (p *Process) waitState(ctx context.Context, stopped bool) error {
	path := fmt.Sprintf("/proc/%d/stat", p.PID())
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil // gone, or no procfs: nothing more to wait for
		}
		// The state follows the parenthesised command name: "PID (comm) S ...".
		if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) {
			if (b[i+2] == 'T' || b[i+2] == 't') == stopped {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("process %d did not %s: %w", p.PID(), map[bool]string{true: "stop", false: "continue"}[stopped], ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

// Stop asks the server to stop (SIGTERM) and kills it if it has not within 10 s.
func (p *Process) Stop(ctx context.Context) error {
	_ = p.signal(syscall.SIGCONT)
	if err := p.signal(syscall.SIGTERM); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := p.wait(wctx); err != nil {
		return p.Kill(ctx)
	}
	return nil
}

// Restart stops the process and starts it again on the same data and ports.
func (p *Process) Restart(ctx context.Context) error {
	if err := p.Stop(ctx); err != nil {
		return err
	}
	return p.start(ctx)
}
