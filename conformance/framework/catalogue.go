package framework

import (
	"strings"
	"sync"
)

// CatalogueEntry is what a spec's structured comment states: the rule that MUST hold, the
// protocol.md section it comes from and the test of the original pushy suite it supersedes.
// Path is the spec's text path: its containers' texts and its own (an It), or the texts up to
// and including a DescribeTable, whose entries all share the entry.
type CatalogueEntry struct {
	Path       []string
	File       string
	Must       string
	Section    string
	Supersedes string
}

var (
	catalogueMu sync.RWMutex
	catalogue   = map[string]CatalogueEntry{}
)

// SetCatalogue installs the generated catalogue.
func SetCatalogue(entries []CatalogueEntry) {
	catalogueMu.Lock()
	defer catalogueMu.Unlock()
	catalogue = make(map[string]CatalogueEntry, len(entries))
	for _, e := range entries {
		catalogue[pathKey(e.Path)] = e
	}
}

func pathKey(p []string) string { return strings.Join(p, "\x00") }

// Lookup finds the entry of a spec: its own path, else (a table entry) its containers' path.
func Lookup(containers []string, leaf string) (CatalogueEntry, bool) {
	catalogueMu.RLock()
	defer catalogueMu.RUnlock()
	full := append(append([]string{}, containers...), leaf)
	if e, ok := catalogue[pathKey(full)]; ok {
		return e, true
	}
	e, ok := catalogue[pathKey(containers)]
	return e, ok
}
