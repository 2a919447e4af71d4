package scenarios

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

//go:embed library/*.yaml
var library embed.FS

// Library lists the names of the scenarios shipped with pushlab (smoke, nack-storm, ...), sorted.
func Library() []string {
	entries, _ := fs.ReadDir(library, "library")
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// LibraryFile returns the text of a shipped scenario.
func LibraryFile(name string) ([]byte, error) {
	data, err := library.ReadFile(path.Join("library", name+".yaml"))
	if err != nil {
		return nil, fmt.Errorf("no shipped scenario is named %q (shipped: %s)", name, strings.Join(Library(), ", "))
	}
	return data, nil
}

// LoadLibrary loads a shipped scenario by name; its File is scenarios/library/NAME.yaml.
func LoadLibrary(name string, opts Options) (*Scenario, error) {
	data, err := LibraryFile(name)
	if err != nil {
		return nil, err
	}
	return LoadBytes(path.Join("scenarios", "library", name+".yaml"), data, opts)
}
