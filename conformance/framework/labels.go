package framework

import (
	"fmt"
	"sort"
	"strings"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
)

// The label registry. It is closed: a spec may carry only these labels, so users can rely on
// them in --label-filter. Areas say what a spec checks; every spec carries at least one.
var labelRegistry = map[string]struct {
	area bool
	help string
}{
	"api":        {true, "REST API: routes, statuses, exact error bodies, job and node objects (protocol.md §2)"},
	"auth":       {true, "authentication and authorization: the X-Ops header matrix, requestors, groups (§2.2, §2.3, §3)"},
	"sse":        {true, "job and org event feeds: order, ids, resumption, summaries (§6)"},
	"output":     {true, "captured command output, byte for byte (§2.7)"},
	"liveness":   {true, "node protocol and liveness over ZeroMQ: heartbeats, rehab, state machines (§4, §5)"},
	"chaos":      {true, "nodes that crash, restart, hang, nack or send malformed, stale or forged messages (§5.6)"},
	"load":       {true, "hundreds of nodes and concurrent jobs"},
	"slow":       {false, "waits for a server timeout (voting timeout, run timeout, offline detection)"},
	"disruptive": {false, "restarts or otherwise disturbs the server; needs a target that can be restarted"},
	"smoke":      {false, "a fast subset that touches every area"},
}

// ginkgoLabels are the labels Ginkgo itself adds (Serial specs carry "Serial").
var ginkgoLabels = map[string]bool{"Serial": true}

// Label returns ginkgo labels after checking each against the registry; an unknown label is a
// bug in the suite and panics while the spec tree is built.
func Label(names ...string) ginkgo.Labels {
	for _, n := range names {
		if _, ok := labelRegistry[n]; !ok {
			panic(fmt.Sprintf("conformance: label %q is not in the registry %v", n, LabelNames()))
		}
	}
	return ginkgo.Label(names...)
}

// LabelNames lists the registry, sorted.
func LabelNames() []string {
	out := make([]string, 0, len(labelRegistry))
	for n := range labelRegistry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// LabelHelp describes a label of the registry ("" when unknown).
func LabelHelp(name string) string { return labelRegistry[name].help }

// ValidateTree checks a previewed spec tree: registered labels only, at least one area label
// per spec, unique full names, a catalogue entry for every spec. Each problem names the spec's
// location.
func ValidateTree(r types.Report) []error {
	var errs []error
	seen := map[string]string{}
	for _, s := range r.SpecReports {
		if s.LeafNodeType != types.NodeTypeIt {
			continue
		}
		where := s.LeafNodeLocation.String()
		name := s.FullText()
		if prev, dup := seen[name]; dup {
			errs = append(errs, fmt.Errorf("%s: spec name %q repeats the spec at %s", where, name, prev))
		}
		seen[name] = where
		area := false
		for _, l := range s.Labels() {
			if ginkgoLabels[l] {
				continue
			}
			info, ok := labelRegistry[l]
			if !ok {
				errs = append(errs, fmt.Errorf("%s: label %q is not in the registry", where, l))
			}
			area = area || info.area
		}
		if !area {
			errs = append(errs, fmt.Errorf("%s: %q has no area label (one of %s)", where, name, strings.Join(areaLabels(), ", ")))
		}
		if _, ok := Lookup(s.ContainerHierarchyTexts, s.LeafNodeText); !ok {
			errs = append(errs, fmt.Errorf("%s: %q has no catalogue entry (regenerate the catalogue)", where, name))
		}
		for _, text := range append(append([]string{}, s.ContainerHierarchyTexts...), s.LeafNodeText) {
			if strings.Contains(text, "[") && strings.Contains(text, "]") {
				for _, n := range LabelNames() {
					if strings.Contains(strings.ToLower(text), "["+n+"]") {
						errs = append(errs, fmt.Errorf("%s: %q writes the label %q in its text; use Label", where, name, n))
					}
				}
			}
		}
	}
	return errs
}

func areaLabels() []string {
	var out []string
	for _, n := range LabelNames() {
		if labelRegistry[n].area {
			out = append(out, n)
		}
	}
	return out
}
