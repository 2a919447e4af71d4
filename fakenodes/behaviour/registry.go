package behaviour

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"time"

	"github.com/goccy/go-yaml"
)

var (
	registryMu sync.RWMutex
	registry   = map[string]func() Behaviour{}
	typeNames  = map[reflect.Type]string{}
)

// Register makes a behaviour type known by name. newFn returns a pointer to a fresh config
// struct, which YAML decodes into (strictly: unknown keys are errors). It panics on a duplicate.
func Register(name string, newFn func() Behaviour) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[name]; dup {
		panic("behaviour: duplicate registration of " + name)
	}
	b := newFn()
	if reflect.TypeOf(b).Kind() != reflect.Pointer || reflect.TypeOf(b).Elem().Kind() != reflect.Struct {
		panic("behaviour: " + name + " must be a pointer to a struct")
	}
	registry[name] = newFn
	typeNames[reflect.TypeOf(b)] = name
}

// New returns a fresh config of the named type.
func New(name string) (Behaviour, error) {
	registryMu.RLock()
	f, ok := registry[name]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown behaviour type %q (known: %v)", name, Types())
	}
	return f(), nil
}

// Types lists the registered behaviour names, sorted.
func Types() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// TypeName is the registered name of b's type, or "" when it is not registered.
func TypeName(b Behaviour) string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	return typeNames[reflect.TypeOf(b)]
}

// Spec is one behaviour as it appears in a file: `type: NAME` plus the fields of that type.
type Spec struct {
	Type      string
	Behaviour Behaviour
}

// UnmarshalYAML reads the type, then decodes the same mapping into that type's config, with the
// decoder's own options (a strict decoder rejects unknown keys).
func (s *Spec) UnmarshalYAML(ctx context.Context, unmarshal func(any) error) error {
	var probe map[string]any
	if err := unmarshal(&probe); err != nil {
		return err
	}
	name, _ := probe["type"].(string)
	if name == "" {
		return fmt.Errorf("behaviour without a type (known: %v)", Types())
	}
	b, err := New(name)
	if err != nil {
		return err
	}
	cfg := reflect.TypeOf(b).Elem()
	wrapper := reflect.StructOf([]reflect.StructField{
		{Name: "Type", Type: reflect.TypeOf(""), Tag: `yaml:"type"`},
		{Name: "Config", Type: cfg, Tag: `yaml:",inline"`},
	})
	w := reflect.New(wrapper)
	w.Elem().Field(1).Set(reflect.ValueOf(b).Elem()) // keep the defaults of newFn
	if err := unmarshal(w.Interface()); err != nil {
		return fmt.Errorf("behaviour %s: %w", name, err)
	}
	reflect.ValueOf(b).Elem().Set(w.Elem().Field(1))
	s.Type, s.Behaviour = name, b
	return nil
}

// Validate checks the behaviour's config.
func (s Spec) Validate() error {
	if s.Behaviour == nil {
		return fmt.Errorf("behaviour %q is empty", s.Type)
	}
	if err := s.Behaviour.Validate(); err != nil {
		return fmt.Errorf("behaviour %s: %w", s.Type, err)
	}
	return nil
}

// Of wraps a behaviour built in Go as a Spec.
func Of(b Behaviour) Spec { return Spec{Type: TypeName(b), Behaviour: b} }

// Build makes a behaviour from a name and its fields as a generic map (the shape scenario files
// hold), decoded strictly and validated. Durations may be strings ("250ms") or time.Duration.
func Build(name string, params map[string]any) (Behaviour, error) {
	m := make(map[string]any, len(params)+1)
	for k, v := range params {
		if d, ok := v.(time.Duration); ok {
			v = d.String()
		}
		m[k] = v
	}
	m["type"] = name
	data, err := yaml.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("behaviour %s: %w", name, err)
	}
	var s Spec
	if err := yaml.UnmarshalWithOptions(data, &s, yaml.Strict()); err != nil {
		return nil, fmt.Errorf("behaviour %s: %s", name, yaml.FormatError(err, false, false))
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s.Behaviour, nil
}

// Registry is the registered behaviours as a checker of (name, params) pairs.
type Registry struct{}

// Validate reports whether Build would accept name and params.
func (Registry) Validate(name string, params map[string]any) error {
	_, err := Build(name, params)
	return err
}
