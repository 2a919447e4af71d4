package behaviour

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"

	"github.com/goccy/go-yaml"
)

// Plan assigns behaviours to nodes. Nodes named in a group belong to it; every other node falls
// into a group chosen by weight from (seed, node index) alone, so shards of one fleet started
// anywhere agree without talking. A node in no group (empty plan, or weights summing to zero)
// gets the default: ack every commit, succeed at once with empty output.
type Plan struct {
	Groups []Group `yaml:"groups"`
}

// Group is a set of nodes sharing behaviours.
type Group struct {
	Name string `yaml:"name"`
	// Weight is the group's share of the nodes not named anywhere (relative to the other weights).
	Weight float64 `yaml:"weight"`
	// Nodes lists nodes that belong to the group whatever the weights.
	Nodes []string `yaml:"nodes"`
	// Behaviours apply in order: the first that takes over an event wins; outcome shapers and
	// send filters all apply.
	Behaviours []Spec `yaml:"behaviours"`
}

// Parse reads a plan from YAML (or JSON) and validates it. Unknown keys are errors.
func Parse(data []byte) (*Plan, error) {
	var p Plan
	if len(bytes.TrimSpace(data)) > 0 {
		if err := yaml.UnmarshalWithOptions(data, &p, yaml.Strict()); err != nil {
			return nil, errors.New(yaml.FormatError(err, false, true))
		}
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Load reads a plan file.
func Load(path string) (*Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// Validate checks every group and behaviour and returns all problems found.
func (p *Plan) Validate() error {
	var errs []error
	names := map[string]bool{}
	owner := map[string]string{}
	for i, g := range p.Groups {
		where := fmt.Sprintf("group %d", i+1)
		if g.Name != "" {
			where = fmt.Sprintf("group %q", g.Name)
			if names[g.Name] {
				errs = append(errs, fmt.Errorf("%s: duplicate group name", where))
			}
			names[g.Name] = true
		}
		if g.Weight < 0 {
			errs = append(errs, fmt.Errorf("%s: weight %v is negative", where, g.Weight))
		}
		for _, n := range g.Nodes {
			if o, dup := owner[n]; dup {
				errs = append(errs, fmt.Errorf("%s: node %q is already in %s", where, n, o))
			}
			owner[n] = where
		}
		for j, s := range g.Behaviours {
			if err := s.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("%s, behaviour %d: %w", where, j+1, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Assign picks the group of the node with this index and name; nil means the default behaviour.
func (p *Plan) Assign(seed int64, index int, name string) *Group {
	if p == nil || len(p.Groups) == 0 {
		return nil
	}
	for i := range p.Groups {
		for _, n := range p.Groups[i].Nodes {
			if n == name {
				return &p.Groups[i]
			}
		}
	}
	total := 0.0
	for _, g := range p.Groups {
		total += g.Weight
	}
	if total <= 0 {
		return nil
	}
	r := NodeRand(seed, index, streamAssign).Float64() * total
	for i := range p.Groups {
		w := p.Groups[i].Weight
		if w <= 0 {
			continue
		}
		if r < w {
			return &p.Groups[i]
		}
		r -= w
	}
	for i := len(p.Groups) - 1; i >= 0; i-- { // rounding: the last weighted group
		if p.Groups[i].Weight > 0 {
			return &p.Groups[i]
		}
	}
	return nil
}

// List returns the group's behaviours (nil for a nil group).
func (g *Group) List() []Behaviour {
	if g == nil {
		return nil
	}
	out := make([]Behaviour, 0, len(g.Behaviours))
	for _, s := range g.Behaviours {
		out = append(out, s.Behaviour)
	}
	return out
}

// Random streams derived from (seed, index): one per purpose, so adding a use of randomness in
// one place does not shift another.
const (
	streamAssign uint64 = 0x61737369676e // "assign"
	StreamNode   uint64 = 0x6e6f6465     // "node": the node's own Rand
	StreamRamp   uint64 = 0x72616d70     // "ramp": start-up jitter
)

// NodeRand is the deterministic random source of one (seed, index, stream).
func NodeRand(seed int64, index int, stream uint64) *rand.Rand {
	a := mix(uint64(seed) ^ mix(uint64(index)+0x9e3779b97f4a7c15))
	return rand.New(rand.NewPCG(a, mix(a^stream)))
}

// mix is the splitmix64 finaliser.
func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
