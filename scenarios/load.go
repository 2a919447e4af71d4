package scenarios

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
)

// Options tune loading.
type Options struct {
	// Behaviours checks behaviour names and params; nil accepts any.
	Behaviours Behaviours
}

// Load reads, decodes and validates a scenario file. Any problem comes back as an *ErrorList
// holding every error of the file, each with its file:line:column.
func Load(path string, opts Options) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &ErrorList{Errors: []*Error{{File: path, Message: err.Error()}}}
	}
	return LoadBytes(path, data, opts)
}

// LoadBytes is Load for a scenario already in memory; name is used in error messages.
//
// Decoding comes first: the YAML must parse, and every key, type and duplicate is checked
// against the format. Only a file that decodes cleanly is validated for meaning (references,
// ranges, quorum, thresholds, behaviours), so the errors of the second step never echo those
// of the first.
func LoadBytes(name string, data []byte, opts Options) (*Scenario, error) {
	s, err := Decode(name, data)
	if err != nil {
		return nil, err
	}
	if err := s.Validate(opts.Behaviours); err != nil {
		return nil, err
	}
	s.applyDefaults()
	return s, nil
}

// Decode reads the scenario strictly (shape, types, unknown and duplicate keys) without the
// validation of its meaning.
func Decode(name string, data []byte) (*Scenario, error) {
	errs := &ErrorList{}
	root := parseYAML(name, data, errs)
	if root == nil {
		return nil, errs.err()
	}
	s := &Scenario{File: name}
	d := newDecoder(name, errs)
	if root.kind != kindMap {
		d.errorf(root, "", "a scenario is a mapping with apiVersion, kind, metadata, fleet and timeline, not %s", root.kindName())
		return nil, errs.err()
	}
	d.decode(root, reflectValue(s), "")
	if err := errs.err(); err != nil {
		return nil, err
	}
	s.pos, s.keyPos = d.pos, d.keyPos
	return s, nil
}

func reflectValue(ptr any) reflect.Value { return reflect.ValueOf(ptr).Elem() }

// applyDefaults names unnamed jobs after their step (job-3, load-5) and makes the embedded
// target explicit.
func (s *Scenario) applyDefaults() {
	if s.Target.URL == "" && s.Target.Embedded == nil {
		s.Target.Embedded = &EmbeddedTarget{}
	}
	taken := map[string]bool{}
	for _, st := range s.Timeline {
		if st.Job != nil && st.Job.Name != "" {
			taken[st.Job.Name] = true
		}
		if st.Load != nil && st.Load.Job.Name != "" {
			taken[st.Load.Job.Name] = true
		}
	}
	name := func(kind string, i int) string {
		n := fmt.Sprintf("%s-%d", kind, i+1)
		for taken[n] {
			n += "x"
		}
		taken[n] = true
		return n
	}
	for i := range s.Timeline {
		st := &s.Timeline[i]
		if st.Job != nil && st.Job.Name == "" {
			st.Job.Name = name("job", i)
		}
		if st.Load != nil && st.Load.Job.Name == "" {
			st.Load.Job.Name = name("load", i)
		}
	}
}
