package scenarios

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/pushlab/pushlab/fakenodes/behaviour"
)

// Behaviours checks the behaviour names and params a fleet group uses. The simulated nodes'
// registry plugs in here; Options.Behaviours nil accepts any name and params.
type Behaviours interface {
	Validate(name string, params map[string]any) error
}

// ParamError is a problem with one param of a behaviour; Validate positions it at that param.
// A Behaviours implementation may return several, joined with errors.Join.
type ParamError struct {
	Param   string
	Message string
}

func (e *ParamError) Error() string { return e.Param + ": " + e.Message }

// StandardBehaviours checks behaviours against the registry of pushlab's simulated nodes
// (fakenodes/behaviour): a name is a registered behaviour type, and its params are the fields
// of that type's config, by their YAML names, each of the field's type. A behaviour is valid
// when BuildBehaviour can build it.
var StandardBehaviours Behaviours = registryBehaviours{}

// StandardBehaviourNames lists the registered behaviours, sorted.
func StandardBehaviourNames() []string { return behaviour.Types() }

// StandardBehaviourParams lists the params of a registered behaviour, sorted; ok is false for
// an unknown name.
func StandardBehaviourParams(name string) (params []string, ok bool) {
	b, err := behaviour.New(name)
	if err != nil {
		return nil, false
	}
	for k := range paramFields(reflect.TypeOf(b).Elem()) {
		params = append(params, k)
	}
	sort.Strings(params)
	return params, true
}

// BuildBehaviour makes the registered behaviour name with params set on its config (over the
// config's defaults) and validates it. Durations are strings such as "250ms"; errors about one
// param are *ParamError values, joined.
func BuildBehaviour(name string, params map[string]any) (behaviour.Behaviour, error) {
	b, err := behaviour.New(name)
	if err != nil {
		return nil, fmt.Errorf("unknown behaviour %q; %s", name, suggest(name, behaviour.Types(), "behaviours"))
	}
	cfg := reflect.ValueOf(b).Elem()
	fields := paramFields(cfg.Type())
	known := make([]string, 0, len(fields))
	for k := range fields {
		known = append(known, k)
	}
	sort.Strings(known)
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs joined
	for _, k := range keys {
		f, ok := fields[k]
		if !ok {
			if len(known) == 0 {
				errs.add(&ParamError{k, fmt.Sprintf("%s takes no params", name)})
			} else {
				errs.add(&ParamError{k, fmt.Sprintf("unknown param of %s; %s", name, suggest(k, known, "params"))})
			}
			continue
		}
		if msg := setParam(cfg.FieldByIndex(f.Index), params[k]); msg != "" {
			errs.add(&ParamError{k, msg})
		}
	}
	if len(errs) > 0 {
		return nil, errs.err()
	}
	if err := b.Validate(); err != nil {
		for _, e := range flatten(err) {
			if e == nil {
				continue
			}
			msg := e.Error()
			word, rest, _ := strings.Cut(msg, " ")
			if _, given := params[word]; given && rest != "" {
				errs.add(&ParamError{word, msg})
				continue
			}
			errs.add(e)
		}
		return nil, errs.err()
	}
	return b, nil
}

type registryBehaviours struct{}

func (registryBehaviours) Validate(name string, params map[string]any) error {
	_, err := BuildBehaviour(name, params)
	return err
}

// paramFields maps the YAML names of a config struct's fields, inline structs flattened, to
// the fields.
func paramFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	var walk func(t reflect.Type, index []int)
	walk = func(t reflect.Type, index []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("yaml")
			name, opts, _ := strings.Cut(tag, ",")
			if name == "-" {
				continue
			}
			idx := append(append([]int(nil), index...), i)
			if strings.Contains(","+opts+",", ",inline,") && f.Type.Kind() == reflect.Struct {
				walk(f.Type, idx)
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			f.Index = idx
			out[name] = f
		}
	}
	walk(t, nil)
	return out
}

var durationType = reflect.TypeOf(time.Duration(0))

// setParam stores a decoded YAML value in a config field; the message says what is wrong.
func setParam(f reflect.Value, v any) string {
	if f.Type() == durationType {
		s, ok := v.(string)
		if !ok {
			return fmt.Sprintf("want a duration such as \"250ms\", got %s", describeValue(v))
		}
		d, err := parseDuration(s)
		if err != nil {
			return err.Error()
		}
		f.SetInt(int64(d))
		return ""
	}
	switch f.Kind() {
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			return fmt.Sprintf("want a string, got %s", describeValue(v))
		}
		f.SetString(s)
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			return fmt.Sprintf("want true or false, got %s", describeValue(v))
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		switch x := v.(type) {
		case int:
			i = int64(x)
		case int64:
			i = x
		default:
			return fmt.Sprintf("want an integer, got %s", describeValue(v))
		}
		if f.OverflowInt(i) {
			return fmt.Sprintf("integer %d is out of range", i)
		}
		f.SetInt(i)
	case reflect.Float32, reflect.Float64:
		switch x := v.(type) {
		case int:
			f.SetFloat(float64(x))
		case int64:
			f.SetFloat(float64(x))
		case float64:
			f.SetFloat(x)
		default:
			return fmt.Sprintf("want a number, got %s", describeValue(v))
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok || f.Type().Key().Kind() != reflect.String || f.Type().Elem().Kind() != reflect.String {
			return fmt.Sprintf("want a mapping of strings, got %s", describeValue(v))
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := reflect.MakeMapWithSize(f.Type(), len(m))
		for _, k := range keys {
			s, ok := m[k].(string)
			if !ok {
				return fmt.Sprintf("%s: want a string, got %s", k, describeValue(m[k]))
			}
			out.SetMapIndex(reflect.ValueOf(k).Convert(f.Type().Key()), reflect.ValueOf(s).Convert(f.Type().Elem()))
		}
		f.Set(out)
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok || f.Type().Elem().Kind() != reflect.String {
			return fmt.Sprintf("want a list of strings, got %s", describeValue(v))
		}
		out := reflect.MakeSlice(f.Type(), len(list), len(list))
		for i, x := range list {
			s, ok := x.(string)
			if !ok {
				return fmt.Sprintf("[%d]: want a string, got %s", i, describeValue(x))
			}
			out.Index(i).Set(reflect.ValueOf(s).Convert(f.Type().Elem()))
		}
		f.Set(out)
	default:
		return fmt.Sprintf("params of type %s cannot be set from a scenario", f.Type())
	}
	return ""
}

// joined is a small errors.Join that keeps the list reachable by Unwrap.
type joined []error

func (j *joined) add(err error) { *j = append(*j, err) }

func (j joined) err() error {
	if len(j) == 0 {
		return nil
	}
	return multiError(j)
}

type multiError []error

func (m multiError) Error() string {
	parts := make([]string, len(m))
	for i, e := range m {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

func (m multiError) Unwrap() []error { return m }

func suggest(got string, known []string, what string) string {
	best, bestDist := "", 1<<30
	for _, k := range known {
		if d := levenshtein(got, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best != "" && bestDist <= 2 {
		return fmt.Sprintf("did you mean %q?", best)
	}
	return fmt.Sprintf("%s: %s", what, strings.Join(known, ", "))
}

func describeValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("string %q", x)
	case int, int64:
		return fmt.Sprintf("integer %d", x)
	case float64:
		return fmt.Sprintf("number %v", x)
	case bool:
		return fmt.Sprintf("boolean %v", x)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}
