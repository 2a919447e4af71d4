package scenarios

import (
	"path"
	"strconv"
	"strings"
)

// Node is one simulated node as selectors see it.
type Node struct {
	Name   string
	Group  string
	Index  int // in its group, as in the name pattern
	Labels map[string]string
	// Behaviours are the names of the behaviours in effect on the node.
	Behaviours []string
	// Faults are the names of the faults that hit the node.
	Faults []string
}

// Selector picks nodes. It is "*" (every node) or comma-separated terms that must all hold:
// a node name (globs * and ? allowed), or KEY OP VALUE where KEY is name, group, index,
// behaviour, fault or a label, and OP is = (or ==) or != (values may be globs), or, for index
// only, <, <=, > or >=. Examples: "group=web", "group=web,index<100", "web-0001", "tier!=db".
type Selector struct {
	Text  string
	All   bool
	Terms []Term

	path string // where it was read, for semantic errors
	pos  Pos
}

// Term is one condition of a selector.
type Term struct {
	Key   string // "" for a bare node name
	Op    string // ==, !=, <, <=, >, >=
	Value string
	off   int // byte offset of the term in the selector text
}

// Built-in selector keys; any other key is a label.
const (
	KeyName      = "name"
	KeyGroup     = "group"
	KeyIndex     = "index"
	KeyBehaviour = "behaviour"
	KeyFault     = "fault"
)

var builtinKeys = []string{KeyName, KeyGroup, KeyIndex, KeyBehaviour, KeyFault}

func isBuiltinKey(k string) bool {
	for _, b := range builtinKeys {
		if b == k {
			return true
		}
	}
	return false
}

// ParseSelector reads a selector.
func ParseSelector(s string) (Selector, error) {
	sel := Selector{Text: s}
	if strings.TrimSpace(s) == "" {
		return sel, errAt(0, "empty selector; write \"*\" for every node")
	}
	if strings.TrimSpace(s) == "*" {
		sel.All = true
		return sel, nil
	}
	off := 0
	for _, part := range strings.Split(s, ",") {
		lead := len(part) - len(strings.TrimLeft(part, " \t"))
		t, err := parseTerm(strings.TrimSpace(part), off+lead)
		if err != nil {
			return sel, err
		}
		sel.Terms = append(sel.Terms, t)
		off += len(part) + 1
	}
	return sel, nil
}

func parseTerm(s string, off int) (Term, error) {
	if s == "" {
		return Term{}, errAt(off, "empty term in selector (two commas, or a trailing comma)")
	}
	i := strings.IndexAny(s, "=!<>")
	if i < 0 {
		if strings.ContainsAny(s, " \t()") {
			return Term{}, errAt(off, "invalid node name %q in selector", s)
		}
		if _, err := path.Match(s, ""); err != nil {
			return Term{}, errAt(off, "invalid name pattern %q in selector", s)
		}
		return Term{Op: "==", Value: s, off: off}, nil
	}
	key := strings.TrimSpace(s[:i])
	op, rest := cutOp(s[i:])
	if op == "" {
		return Term{}, errAt(off+i, "invalid operator in %q; use =, !=, <, <=, > or >=", s)
	}
	valOff := off + len(s) - len(strings.TrimLeft(rest, " \t"))
	value := strings.TrimSpace(rest)
	if key == "" {
		return Term{}, errAt(off, "missing key before %q in selector term %q", op, s)
	}
	if !isIdent(key) && !strings.ContainsAny(key, "./") {
		return Term{}, errAt(off, "invalid selector key %q", key)
	}
	if value == "" {
		return Term{}, errAt(valOff, "missing value after %q in selector term %q", op, s)
	}
	if strings.ContainsAny(value, "=!<> \t") {
		return Term{}, errAt(valOff, "invalid value %q in selector term %q", value, s)
	}
	t := Term{Key: key, Op: op, Value: value, off: off}
	switch {
	case key == KeyIndex:
		if _, err := strconv.Atoi(value); err != nil {
			return Term{}, errAt(valOff, "index takes an integer, not %q", value)
		}
	case op != "==" && op != "!=":
		return Term{}, errAt(off+i, "%s compares numbers and works only with index; %s takes = or !=", op, key)
	default:
		if _, err := path.Match(value, ""); err != nil {
			return Term{}, errAt(valOff, "invalid pattern %q in selector", value)
		}
	}
	return t, nil
}

func (t Term) String() string {
	if t.Key == "" {
		return t.Value
	}
	op := t.Op
	if op == "==" {
		op = "="
	}
	return t.Key + op + t.Value
}

// Match reports whether the node satisfies every term.
func (s Selector) Match(n Node) bool {
	if s.All {
		return true
	}
	for _, t := range s.Terms {
		if !t.match(n) {
			return false
		}
	}
	return true
}

func globMatch(pattern, v string) bool {
	if !strings.ContainsAny(pattern, "*?[") {
		return pattern == v
	}
	ok, _ := path.Match(pattern, v)
	return ok
}

func anyMatch(pattern string, vs []string) bool {
	for _, v := range vs {
		if globMatch(pattern, v) {
			return true
		}
	}
	return false
}

func (t Term) match(n Node) bool {
	var eq bool
	switch t.Key {
	case "", KeyName:
		eq = globMatch(t.Value, n.Name)
	case KeyGroup:
		eq = globMatch(t.Value, n.Group)
	case KeyIndex:
		want, _ := strconv.Atoi(t.Value)
		return compare(float64(n.Index), t.Op, float64(want))
	case KeyBehaviour:
		eq = anyMatch(t.Value, n.Behaviours)
	case KeyFault:
		eq = anyMatch(t.Value, n.Faults)
	default:
		v, ok := n.Labels[t.Key]
		eq = ok && globMatch(t.Value, v)
	}
	if t.Op == "!=" {
		return !eq
	}
	return eq
}

func (s Selector) String() string { return s.Text }

// UnmarshalText parses the selector.
func (s *Selector) UnmarshalText(b []byte) error {
	v, err := ParseSelector(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

func (Selector) yamlKind() string { return `a node selector such as "group=web" or "*"` }

func (s *Selector) decodeYAML(d *decoder, n *node, p string) {
	if n.kind != kindString {
		d.wrongType(n, p, s.yamlKind())
		return
	}
	v, err := ParseSelector(n.text)
	if err != nil {
		d.scalarError(n, p, err)
		return
	}
	v.path, v.pos = p, n.pos
	*s = v
}

// NodeSet is the union of selectors: one selector, or a list of them (often plain node names).
type NodeSet []Selector

// Match reports whether any selector picks the node.
func (ns NodeSet) Match(n Node) bool {
	for _, s := range ns {
		if s.Match(n) {
			return true
		}
	}
	return false
}

// Select returns the nodes the set picks, in fleet order.
func (ns NodeSet) Select(nodes []Node) []Node {
	var out []Node
	for _, n := range nodes {
		if ns.Match(n) {
			out = append(out, n)
		}
	}
	return out
}

func (ns NodeSet) String() string {
	parts := make([]string, len(ns))
	for i, s := range ns {
		parts[i] = s.Text
	}
	return strings.Join(parts, " | ")
}

func (NodeSet) yamlKind() string { return "a node selector or a list of them" }

func (ns *NodeSet) decodeYAML(d *decoder, n *node, p string) {
	switch n.kind {
	case kindString:
		var s Selector
		s.decodeYAML(d, n, p)
		*ns = NodeSet{s}
	case kindSeq:
		if len(n.items) == 0 {
			d.errorf(n, p, "empty list of nodes")
			return
		}
		out := make(NodeSet, 0, len(n.items))
		for i, e := range n.items {
			ep := indexPath(p, i)
			d.record(ep, e)
			var s Selector
			s.decodeYAML(d, e, ep)
			out = append(out, s)
		}
		*ns = out
	default:
		d.wrongType(n, p, ns.yamlKind())
	}
}

// NodeExpectation says which status the nodes picked by Selector must end in.
type NodeExpectation struct {
	Selector Selector
	Status   StatusSet
	path     string
}

// NodeExpectations is an ordered mapping of selector to node status; the first selector that
// matches a node decides what that node must end in.
type NodeExpectations []NodeExpectation

// For returns the statuses expected of the node, or nil when no selector matches it.
func (ne NodeExpectations) For(n Node) StatusSet {
	for _, e := range ne {
		if e.Selector.Match(n) {
			return e.Status
		}
	}
	return nil
}

func (NodeExpectations) yamlKind() string { return "a mapping of node selector to status" }

func (ne *NodeExpectations) decodeYAML(d *decoder, n *node, p string) {
	if n.kind == kindNull {
		return
	}
	if n.kind != kindMap {
		d.wrongType(n, p, ne.yamlKind())
		return
	}
	out := NodeExpectations{}
	for _, pr := range d.effectivePairs(n, p) {
		kp := joinPath(p, pr.key)
		d.keyPos[kp] = pr.keyPos
		d.record(kp, pr.value)
		sel, err := ParseSelector(pr.key)
		if err != nil {
			d.scalarError(pr.keyNode, kp, err)
			continue
		}
		sel.path, sel.pos = kp, pr.keyPos
		var st StatusSet
		st.decodeYAML(d, pr.value, kp)
		out = append(out, NodeExpectation{Selector: sel, Status: st, path: kp})
	}
	*ne = out
}
