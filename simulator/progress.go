package simulator

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// progress shows a run's progress: mpb bars on a terminal (nodes online, jobs by phase, checks
// passed and failed), plain lines otherwise, nothing without a writer.
type progress struct {
	w    io.Writer
	p    *mpb.Progress
	once sync.Once
	mu   sync.Mutex

	online, available atomic.Int64
	started, running  atomic.Int64
	finished          atomic.Int64
	passed, failed    atomic.Int64
	stepText          atomic.Value

	nodesBar, jobsBar, checksBar *mpb.Bar
}

func newProgress(w io.Writer, terminal bool, nodes int) *progress {
	ui := &progress{w: w}
	ui.stepText.Store("")
	if w == nil || !terminal {
		return ui
	}
	ui.p = mpb.New(mpb.WithOutput(w), mpb.WithWidth(40), mpb.WithAutoRefresh())
	name := func(s string) decor.Decorator {
		return decor.Name(s, decor.WC{C: decor.DindentRight | decor.DextraSpace, W: 14})
	}
	ui.nodesBar = ui.p.AddBar(int64(nodes),
		mpb.PrependDecorators(name("nodes online"), decor.CountersNoUnit("%d / %d", decor.WCSyncWidth)),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
			return fmt.Sprintf("server: %d available", ui.available.Load())
		})))
	ui.jobsBar = ui.p.New(0, mpb.NopStyle(),
		mpb.PrependDecorators(name("jobs"), decor.Any(func(decor.Statistics) string {
			s := ui.started.Load()
			f := ui.finished.Load()
			run := ui.running.Load()
			return fmt.Sprintf("%d started, %d voting, %d running, %d finished", s, max(0, s-f-run), run, f)
		})),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return "  " + ui.stepText.Load().(string) })))
	ui.checksBar = ui.p.New(0, mpb.NopStyle(),
		mpb.PrependDecorators(name("checks"), decor.Any(func(decor.Statistics) string {
			return fmt.Sprintf("✓ %d  ✗ %d", ui.passed.Load(), ui.failed.Load())
		})))
	return ui
}

// printf prints a line above the bars, or plainly.
func (ui *progress) printf(format string, args ...any) {
	if ui.w == nil {
		return
	}
	ui.mu.Lock()
	defer ui.mu.Unlock()
	if ui.p != nil {
		fmt.Fprintf(ui.p, format+"\n", args...)
		return
	}
	fmt.Fprintf(ui.w, format+"\n", args...)
}

func (ui *progress) nodes(online, available int) {
	ui.online.Store(int64(online))
	ui.available.Store(int64(available))
	if ui.nodesBar != nil {
		ui.nodesBar.SetCurrent(int64(online))
	}
}

func (ui *progress) step(i, n int, action string) {
	ui.stepText.Store(fmt.Sprintf("step %d/%d: %s", i+1, n, action))
}

func (ui *progress) jobStarted() { ui.started.Add(1) }

func (ui *progress) jobFinished(string) { ui.finished.Add(1) }

func (ui *progress) check(status string) {
	switch status {
	case CheckPass:
		ui.passed.Add(1)
	case CheckFail:
		ui.failed.Add(1)
	}
}

// close ends the bars; later lines go straight to the writer.
func (ui *progress) close() {
	ui.once.Do(func() {
		ui.mu.Lock()
		p := ui.p
		ui.p = nil
		ui.mu.Unlock()
		if p == nil {
			return
		}
		for _, b := range []*mpb.Bar{ui.nodesBar, ui.jobsBar, ui.checksBar} {
			b.Abort(false)
		}
		p.Wait()
	})
}
