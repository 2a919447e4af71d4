package server

import (
	"log/slog"
	"os"
	"runtime"
)

// minProcs is the fewest Go processors (GOMAXPROCS) the server runs with.
//
// The engine loop, the broker's I/O loop, the store's writer and every SSE feed are goroutines
// that each need a processor to run. With one processor per core on a small machine, a feed
// woken by a new event waits behind the busy loops until one of them blocks or is preempted
// (after up to 10 ms), over and over during a burst. More processors than cores leave that
// interleaving to the kernel, which slices far finer. Measured with BenchmarkJob9000 on 2 cores
// (9,000 nodes, a fleet of three processes on the same cores): SSE event latency p99 fell from
// a median of 95 ms over six runs to 36 ms over four, while commit latency and server CPU stayed
// as they were. docs/benchmarks.md has the runs.
const minProcs = 4

// procsFor is the GOMAXPROCS the server wants given the current one; an explicit GOMAXPROCS in
// the environment is always kept.
func procsFor(current int, fromEnv bool) int {
	if fromEnv || current >= minProcs {
		return current
	}
	return minProcs
}

// raiseProcs applies procsFor to this process.
func raiseProcs(log *slog.Logger) {
	cur := runtime.GOMAXPROCS(0)
	if want := procsFor(cur, os.Getenv("GOMAXPROCS") != ""); want != cur {
		runtime.GOMAXPROCS(want)
		log.Debug("raised GOMAXPROCS so that feeds are not held behind busy goroutines", "from", cur, "to", want)
	}
}
