package fleetrun

import (
	"fmt"
	"io"
	"sync"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/pushlab/pushlab/fakenodes"
)

// progress shows registering, connecting, online and jobs seen as mpb bars on a terminal, and
// nothing but messages otherwise.
type progress struct {
	w    io.Writer
	p    *mpb.Progress
	bars map[string]*mpb.Bar
	once sync.Once
}

func newProgress(o Options, count int) *progress {
	ui := &progress{w: o.Out}
	if !o.Progress {
		return ui
	}
	ui.p = mpb.New(mpb.WithOutput(o.Out), mpb.WithWidth(50), mpb.WithAutoRefresh())
	ui.bars = map[string]*mpb.Bar{}
	add := func(name string, total int64) {
		ui.bars[name] = ui.p.AddBar(total,
			mpb.PrependDecorators(decor.Name(name, decor.WC{C: decor.DindentRight | decor.DextraSpace, W: 12}), decor.CountersNoUnit("%d / %d", decor.WCSyncWidth)),
			mpb.AppendDecorators(decor.Percentage(decor.WCSyncSpace)))
	}
	if o.Register {
		add("registering", int64(count))
	}
	add("connecting", int64(count))
	add("online", int64(count))
	ui.bars["jobs seen"] = ui.p.AddBar(0,
		mpb.PrependDecorators(decor.Name("jobs seen", decor.WC{C: decor.DindentRight | decor.DextraSpace, W: 12}), decor.CurrentNoUnit("%d commits")),
		mpb.BarFillerClearOnComplete())
	return ui
}

func (ui *progress) registered(done int) {
	if b := ui.bars["registering"]; b != nil {
		b.SetCurrent(int64(done))
	}
}

func (ui *progress) update(s fakenodes.Stats) {
	if ui.p == nil {
		return
	}
	connected := s.Nodes - s.ByState[fakenodes.StatePending] - s.ByState[fakenodes.StateConfiguring]
	ui.bars["connecting"].SetCurrent(int64(connected))
	ui.bars["online"].SetCurrent(int64(s.Online()))
	ui.bars["jobs seen"].SetCurrent(s.Commits)
}

// printf prints a line above the bars, or plainly once they are gone.
func (ui *progress) printf(format string, args ...any) {
	if ui.p != nil {
		fmt.Fprintf(ui.p, format+"\n", args...)
		return
	}
	fmt.Fprintf(ui.w, format+"\n", args...)
}

// close ends the bars; later messages go straight to the output.
func (ui *progress) close() {
	ui.once.Do(func() {
		if ui.p == nil {
			return
		}
		for _, b := range ui.bars {
			b.Abort(false)
		}
		ui.p.Wait()
		ui.p = nil
	})
}
