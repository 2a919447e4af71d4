package scenarios

import (
	"fmt"
	"strconv"
	"strings"
)

// DefaultNamePattern names the nodes of a group without a namePattern.
const DefaultNamePattern = "{group}-{index:04d}"

type patternPart struct {
	lit   string
	field string // "", "group" or "index"
	width int    // zero padding of index
}

// parseNamePattern reads literal text with {group}, {index} and {index:0Nd} placeholders.
func parseNamePattern(p string) ([]patternPart, error) {
	var parts []patternPart
	i := 0
	for i < len(p) {
		open := strings.IndexByte(p[i:], '{')
		if close := strings.IndexByte(p[i:], '}'); close >= 0 && (open < 0 || close < open) {
			return nil, errAt(i+close, "unmatched } in name pattern %q", p)
		}
		if open < 0 {
			parts = append(parts, patternPart{lit: p[i:]})
			break
		}
		if open > 0 {
			parts = append(parts, patternPart{lit: p[i : i+open]})
		}
		start := i + open
		end := strings.IndexByte(p[start:], '}')
		if end < 0 {
			return nil, errAt(start, "unclosed { in name pattern %q", p)
		}
		inner := p[start+1 : start+end]
		name, format, hasFormat := strings.Cut(inner, ":")
		part := patternPart{field: name}
		switch name {
		case "group":
			if hasFormat {
				return nil, errAt(start, "{group} takes no format in name pattern %q", p)
			}
		case "index":
			if hasFormat {
				f, ok := strings.CutSuffix(format, "d")
				w, err := strconv.Atoi(f)
				if f == "" {
					w, err = 0, nil
				}
				if !ok || err != nil || w < 0 || w > 20 {
					return nil, errAt(start, "invalid format %q for {index}; write {index:04d} for zero-padded width 4", format)
				}
				part.width = w
			}
		default:
			return nil, errAt(start, "unknown placeholder {%s} in name pattern %q; use {group} or {index}", inner, p)
		}
		parts = append(parts, part)
		i = start + end + 1
	}
	return parts, nil
}

func renderName(parts []patternPart, group string, index int) string {
	var b strings.Builder
	for _, p := range parts {
		switch p.field {
		case "group":
			b.WriteString(group)
		case "index":
			fmt.Fprintf(&b, "%0*d", p.width, index)
		default:
			b.WriteString(p.lit)
		}
	}
	return b.String()
}

func hasIndex(parts []patternPart) bool {
	for _, p := range parts {
		if p.field == "index" {
			return true
		}
	}
	return false
}

// Pattern is the group's name pattern, or the default.
func (g Group) Pattern() string {
	if g.NamePattern == "" {
		return DefaultNamePattern
	}
	return g.NamePattern
}

// NodeName is the name of the group's node with this index (0-based).
func (g Group) NodeName(index int) string {
	parts, err := parseNamePattern(g.Pattern())
	if err != nil {
		return fmt.Sprintf("%s-%d", g.Name, index)
	}
	return renderName(parts, g.Name, index)
}

// Nodes lists every node of the fleet, group by group, in index order. Behaviours and Faults are
// left empty: which behaviour and fault hit a node is decided when the scenario runs.
func (s *Scenario) Nodes() []Node {
	total := 0
	for _, g := range s.Fleet.Groups {
		total += max(g.Count, 0)
	}
	out := make([]Node, 0, total)
	for _, g := range s.Fleet.Groups {
		parts, err := parseNamePattern(g.Pattern())
		for i := 0; i < g.Count; i++ {
			name := fmt.Sprintf("%s-%d", g.Name, i)
			if err == nil {
				name = renderName(parts, g.Name, i)
			}
			out = append(out, Node{Name: name, Group: g.Name, Index: i, Labels: g.Labels})
		}
	}
	return out
}

// validNodeName reports whether s is a usable Chef node name.
func validNodeName(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_.:-", r) {
			continue
		}
		return false
	}
	return true
}
