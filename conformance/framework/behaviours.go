package framework

import (
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/pushlab/pushlab/fakenodes/behaviour"
)

// DistinctOutputType is the registered name of DistinctOutput.
const DistinctOutputType = "conformance_distinct_output"

func init() {
	behaviour.Register(DistinctOutputType, func() behaviour.Behaviour { return &DistinctOutput{} })
}

// DistinctOutput makes each node's command print OutputOf(its name): outputs differ from node
// to node and cover the shapes a server must store byte for byte.
type DistinctOutput struct{}

var _ behaviour.OutcomeShaper = (*DistinctOutput)(nil)

func (b *DistinctOutput) Validate() error { return nil }

func (b *DistinctOutput) ShapeOutcome(n behaviour.Node, _ *behaviour.Commit, o *behaviour.Outcome) {
	o.Stdout, o.Stderr = OutputOf(n.Name())
}

// OutputKinds is how many shapes of output OutputOf cycles through.
const OutputKinds = 8

// OutputOf is the output of a node's command: stdout and stderr, unique to the name, of one of
// OutputKinds shapes — empty, one line, many lines, control characters, non-ASCII text,
// characters JSON escapes, no trailing newline, close to the client's 63,000-byte limit.
func OutputOf(name string) (stdout, stderr string) {
	h := fnv.New32a()
	h.Write([]byte(name))
	switch h.Sum32() % OutputKinds {
	case 0:
		return "", ""
	case 1:
		return "hello from " + name + "\n", ""
	case 2:
		var b strings.Builder
		for i := 0; i < 50; i++ {
			fmt.Fprintf(&b, "%s line %d\n", name, i)
		}
		return b.String(), "warning: " + name + "\n"
	case 3:
		return name + "\x00\x01\x02\x1b[31mred\x1b[0m\t\r\n\x7f", "\r\n" + name + "\b\f\v"
	case 4:
		return "ĐONKEY ünïcödé ☃ 日本語 " + name + "\n", "ошибка " + name + "\n"
	case 5:
		return `{"quoted":"` + name + `"} \ / <script>&amp;` + "\n", `"\\"` + name
	case 6:
		return name, name + " no newline"
	default:
		return behaviour.Filler(name+"-out", 40000), behaviour.Filler(name+"-err", 20000)
	}
}
