package scenarios

import (
	"encoding"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// The decoder works in two steps: the YAML text becomes a small tree of nodes (anchors,
// aliases, tags and merge keys resolved, positions kept), then that tree is matched against
// the Go types by reflection, reporting every unknown key, wrong type and duplicate key with
// its position instead of stopping at the first.

type nodeKind int

const (
	kindNull nodeKind = iota
	kindString
	kindInt
	kindFloat
	kindBool
	kindMap
	kindSeq
)

type node struct {
	kind  nodeKind
	text  string // scalar value (strings unquoted; numbers and booleans as written)
	pos   Pos
	exact bool // single-line scalar whose bytes line up with columns from textCol
	col   int  // column of the first byte of text when exact
	pairs []pair
	items []*node
	bad   bool // already reported (an alias to nothing): decode it as nothing, silently
}

type pair struct {
	key     string
	keyPos  Pos
	keyNode *node
	value   *node
	merged  bool // came from a << merge key
}

func (n *node) kindName() string {
	switch n.kind {
	case kindNull:
		return "null"
	case kindString:
		s := n.text
		if utf8.RuneCountInString(s) > 40 {
			s = string([]rune(s)[:37]) + "..."
		}
		return fmt.Sprintf("string %q", s)
	case kindInt:
		return "integer " + n.text
	case kindFloat:
		return "number " + n.text
	case kindBool:
		return "boolean " + n.text
	case kindMap:
		return "a mapping"
	case kindSeq:
		return "a list"
	}
	return "unknown"
}

func (n *node) isScalar() bool {
	return n.kind == kindString || n.kind == kindInt || n.kind == kindFloat || n.kind == kindBool
}

func tokenPos(tk *token.Token) Pos {
	if tk == nil || tk.Position == nil {
		return Pos{}
	}
	return Pos{Line: tk.Position.Line, Column: tk.Position.Column}
}

// parseYAML turns the text into the node tree of its single document, or reports why it cannot.
func parseYAML(file string, data []byte, errs *ErrorList) *node {
	f, err := parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		var te interface {
			GetToken() *token.Token
			GetMessage() string
		}
		if errors.As(err, &te) {
			errs.add(file, tokenPos(te.GetToken()), "", "YAML syntax: %s", te.GetMessage())
		} else {
			errs.add(file, Pos{}, "", "YAML syntax: %v", err)
		}
		return nil
	}
	var docs []*ast.DocumentNode
	for _, doc := range f.Docs {
		if doc != nil && doc.Body != nil {
			if _, comment := doc.Body.(*ast.CommentGroupNode); !comment {
				docs = append(docs, doc)
			}
		}
	}
	if len(docs) == 0 {
		errs.add(file, Pos{Line: 1, Column: 1}, "", "the file holds no scenario")
		return nil
	}
	if len(docs) > 1 {
		errs.add(file, startPos(docs[1].Body), "", "a scenario file holds one YAML document, this is a second one")
	}
	c := &converter{file: file, errs: errs, anchors: map[string]*node{}}
	return c.conv(docs[0].Body)
}

// startPos is where a node's text begins (a mapping's token is its first colon).
func startPos(n ast.Node) Pos {
	switch v := n.(type) {
	case *ast.MappingNode:
		if len(v.Values) > 0 && v.Values[0].Key != nil {
			return tokenPos(v.Values[0].Key.GetToken())
		}
	case *ast.MappingValueNode:
		if v.Key != nil {
			return tokenPos(v.Key.GetToken())
		}
	}
	return tokenPos(n.GetToken())
}

type converter struct {
	file    string
	errs    *ErrorList
	anchors map[string]*node
}

func (c *converter) conv(an ast.Node) *node {
	if an == nil {
		return &node{kind: kindNull}
	}
	switch v := an.(type) {
	case *ast.DocumentNode:
		return c.conv(v.Body)
	case *ast.CommentGroupNode:
		return &node{kind: kindNull, pos: tokenPos(v.GetToken())}
	case *ast.TagNode:
		n := c.conv(v.Value)
		if v.Start != nil && (v.Start.Value == "!!str" || v.Start.Value == "!str") && n.isScalar() {
			n.kind = kindString
		}
		return n
	case *ast.AnchorNode:
		n := c.conv(v.Value)
		if v.Name != nil {
			c.anchors[v.Name.GetToken().Value] = n
		}
		return n
	case *ast.AliasNode:
		name := ""
		if v.Value != nil {
			name = v.Value.GetToken().Value
		}
		if n, ok := c.anchors[name]; ok {
			return n
		}
		c.errs.add(c.file, tokenPos(v.GetToken()), "", "alias *%s refers to no anchor defined before it", name)
		return &node{kind: kindNull, pos: tokenPos(v.GetToken()), bad: true}
	case *ast.MappingNode:
		n := &node{kind: kindMap, pos: tokenPos(v.GetToken())}
		for _, mv := range v.Values {
			c.addPair(n, mv)
		}
		if len(v.Values) > 0 && v.Values[0].Key != nil {
			n.pos = tokenPos(v.Values[0].Key.GetToken())
		}
		return n
	case *ast.MappingValueNode:
		n := &node{kind: kindMap, pos: tokenPos(v.GetToken())}
		c.addPair(n, v)
		if v.Key != nil {
			n.pos = tokenPos(v.Key.GetToken())
		}
		return n
	case *ast.SequenceNode:
		n := &node{kind: kindSeq, pos: tokenPos(v.GetToken())}
		for _, e := range v.Values {
			n.items = append(n.items, c.conv(e))
		}
		if len(n.items) > 0 && !v.IsFlowStyle {
			// A block sequence is where its first entry is.
			n.pos = n.items[0].pos
		}
		return n
	case *ast.StringNode:
		return scalarString(v.Token, v.Value)
	case *ast.LiteralNode:
		s := ""
		if v.Value != nil {
			s = v.Value.Value
		}
		return &node{kind: kindString, text: s, pos: tokenPos(v.GetToken())}
	case *ast.IntegerNode:
		return &node{kind: kindInt, text: fmt.Sprint(v.Value), pos: tokenPos(v.Token)}
	case *ast.FloatNode:
		return &node{kind: kindFloat, text: v.Token.Value, pos: tokenPos(v.Token)}
	case *ast.InfinityNode:
		return &node{kind: kindFloat, text: v.Token.Value, pos: tokenPos(v.Token)}
	case *ast.NanNode:
		return &node{kind: kindFloat, text: v.Token.Value, pos: tokenPos(v.Token)}
	case *ast.BoolNode:
		return &node{kind: kindBool, text: strconv.FormatBool(v.Value), pos: tokenPos(v.Token)}
	case *ast.NullNode:
		return &node{kind: kindNull, pos: tokenPos(v.Token)}
	}
	c.errs.add(c.file, tokenPos(an.GetToken()), "", "unsupported YAML construct (%s)", an.Type())
	return &node{kind: kindNull, pos: tokenPos(an.GetToken())}
}

func scalarString(tk *token.Token, value string) *node {
	n := &node{kind: kindString, text: value, pos: tokenPos(tk)}
	if tk == nil || strings.Contains(value, "\n") {
		return n
	}
	origin := strings.TrimSpace(tk.Origin)
	switch tk.Type {
	case token.DoubleQuoteType:
		n.exact = origin == `"`+value+`"` // offsets line up only when nothing was escaped
	case token.SingleQuoteType:
		n.exact = origin == "'"+value+"'"
	default:
		n.exact = origin == value
		n.col = n.pos.Column
		return n
	}
	n.col = n.pos.Column + 1
	return n
}

func (c *converter) addPair(n *node, mv *ast.MappingValueNode) {
	if mv.Key == nil {
		return
	}
	if mv.Key.IsMergeKey() {
		src := c.conv(mv.Value)
		var maps []*node
		switch src.kind {
		case kindMap:
			maps = []*node{src}
		case kindSeq:
			maps = src.items
		}
		for _, m := range maps {
			if m.kind != kindMap {
				c.errs.add(c.file, m.pos, "", "a << merge key takes a mapping or a list of mappings, not %s", m.kindName())
				continue
			}
			for _, p := range m.pairs {
				p.merged = true
				n.pairs = append(n.pairs, p)
			}
		}
		if src.kind != kindMap && src.kind != kindSeq {
			c.errs.add(c.file, src.pos, "", "a << merge key takes a mapping or a list of mappings, not %s", src.kindName())
		}
		return
	}
	var keyNode ast.Node = mv.Key
	if k, ok := mv.Key.(*ast.MappingKeyNode); ok {
		keyNode = k.Value
	}
	k := c.conv(keyNode)
	if !k.isScalar() {
		c.errs.add(c.file, k.pos, "", "a mapping key must be a plain value, not %s", k.kindName())
		return
	}
	n.pairs = append(n.pairs, pair{key: k.text, keyPos: k.pos, keyNode: k, value: c.conv(mv.Value)})
}

// effectivePairs drops merged pairs overridden by explicit keys or by earlier merges, and
// reports explicit duplicates.
func (d *decoder) effectivePairs(n *node, path string) []pair {
	explicit := map[string]Pos{}
	var out []pair
	for _, p := range n.pairs {
		if p.merged {
			continue
		}
		if first, dup := explicit[p.key]; dup {
			d.errs.add(d.file, p.keyPos, path, "duplicate key %q (first at line %d)", p.key, first.Line)
			continue
		}
		explicit[p.key] = p.keyPos
		out = append(out, p)
	}
	for _, p := range n.pairs {
		if !p.merged {
			continue
		}
		if _, done := explicit[p.key]; done {
			continue
		}
		explicit[p.key] = p.keyPos
		out = append(out, p)
	}
	return out
}

// nodeDecoder is implemented by types that read their own YAML forms.
type nodeDecoder interface {
	decodeYAML(d *decoder, n *node, path string)
}

// yamlKinder describes, for error messages, what a type expects.
type yamlKinder interface {
	yamlKind() string
}

type decoder struct {
	file   string
	errs   *ErrorList
	pos    map[string]Pos
	keyPos map[string]Pos
}

func newDecoder(file string, errs *ErrorList) *decoder {
	return &decoder{file: file, errs: errs, pos: map[string]Pos{}, keyPos: map[string]Pos{}}
}

func (d *decoder) record(path string, n *node) {
	if _, ok := d.pos[path]; !ok && n.pos.IsValid() {
		d.pos[path] = n.pos
	}
}

func (d *decoder) errorf(n *node, path, format string, args ...any) {
	d.errs.add(d.file, n.pos, path, format, args...)
}

func (d *decoder) wrongType(n *node, path, want string) {
	got := n.kindName()
	if strings.HasPrefix(want, "a string") && (n.kind == kindInt || n.kind == kindFloat || n.kind == kindBool) {
		d.errorf(n, path, "want %s, got %s; quote it (%q) if it is text", want, got, n.text)
		return
	}
	d.errorf(n, path, "want %s, got %s", want, got)
}

// scalarError reports err about a scalar; an offsetError moves the column onto the culprit.
func (d *decoder) scalarError(n *node, path string, err error) {
	pos := n.pos
	var oe *offsetError
	if errors.As(err, &oe) && n.exact && oe.off >= 0 && oe.off <= len(n.text) {
		pos.Column = n.col + utf8.RuneCountInString(n.text[:oe.off])
	}
	d.errs.add(d.file, pos, path, "%s", err.Error())
}

func joinPath(path, key string) string {
	if isIdent(key) {
		if path == "" {
			return key
		}
		return path + "." + key
	}
	return path + "[" + strconv.Quote(key) + "]"
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && (r >= '0' && r <= '9' || r == '-') {
			continue
		}
		return false
	}
	return true
}

func indexPath(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

func (d *decoder) decode(n *node, v reflect.Value, path string) {
	d.record(path, n)
	if n.bad {
		return
	}
	if v.CanAddr() {
		switch x := v.Addr().Interface().(type) {
		case nodeDecoder:
			x.decodeYAML(d, n, path)
			return
		case encoding.TextUnmarshaler:
			if !n.isScalar() {
				d.wrongType(n, path, wantKind(v.Type()))
				return
			}
			if err := x.UnmarshalText([]byte(n.text)); err != nil {
				d.scalarError(n, path, err)
			}
			return
		}
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		switch n.kind {
		case kindNull:
		case kindSeq:
			s := reflect.MakeSlice(v.Type(), len(n.items), len(n.items))
			for i, e := range n.items {
				d.decode(e, s.Index(i), indexPath(path, i))
			}
			v.Set(s)
		default:
			d.wrongType(n, path, wantKind(v.Type()))
		}
	case reflect.Map:
		switch n.kind {
		case kindNull:
		case kindMap:
			m := reflect.MakeMapWithSize(v.Type(), len(n.pairs))
			for _, p := range d.effectivePairs(n, path) {
				kp := joinPath(path, p.key)
				d.keyPos[kp] = p.keyPos
				ev := reflect.New(v.Type().Elem()).Elem()
				d.decode(p.value, ev, kp)
				m.SetMapIndex(reflect.ValueOf(p.key).Convert(v.Type().Key()), ev)
			}
			v.Set(m)
		default:
			d.wrongType(n, path, wantKind(v.Type()))
		}
	case reflect.String:
		if n.kind != kindString {
			d.wrongType(n, path, wantKind(v.Type()))
			return
		}
		v.SetString(n.text)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n.kind != kindInt {
			d.wrongType(n, path, wantKind(v.Type()))
			return
		}
		i, err := strconv.ParseInt(n.text, 10, 64)
		if err != nil || v.OverflowInt(i) {
			d.errorf(n, path, "integer %s is out of range", n.text)
			return
		}
		v.SetInt(i)
	case reflect.Float32, reflect.Float64:
		if n.kind != kindInt && n.kind != kindFloat {
			d.wrongType(n, path, wantKind(v.Type()))
			return
		}
		f, err := strconv.ParseFloat(n.text, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			d.errorf(n, path, "%s is not a finite number", n.text)
			return
		}
		v.SetFloat(f)
	case reflect.Bool:
		if n.kind != kindBool {
			d.wrongType(n, path, wantKind(v.Type()))
			return
		}
		v.SetBool(n.text == "true")
	case reflect.Interface:
		if g := d.generic(n, path); g != nil {
			v.Set(reflect.ValueOf(g))
		}
	default:
		d.errorf(n, path, "cannot decode into %s", v.Type())
	}
}

// generic turns a node into plain Go values: string, int, float64, bool, []any, map[string]any.
func (d *decoder) generic(n *node, path string) any {
	d.record(path, n)
	switch n.kind {
	case kindString:
		return n.text
	case kindInt:
		if i, err := strconv.ParseInt(n.text, 10, 64); err == nil {
			if int64(int(i)) == i {
				return int(i)
			}
			return i
		}
		return n.text
	case kindFloat:
		f, _ := strconv.ParseFloat(n.text, 64)
		return f
	case kindBool:
		return n.text == "true"
	case kindSeq:
		out := make([]any, len(n.items))
		for i, e := range n.items {
			out[i] = d.generic(e, indexPath(path, i))
		}
		return out
	case kindMap:
		out := make(map[string]any, len(n.pairs))
		for _, p := range d.effectivePairs(n, path) {
			kp := joinPath(path, p.key)
			d.keyPos[kp] = p.keyPos
			out[p.key] = d.generic(p.value, kp)
		}
		return out
	}
	return nil
}

func (d *decoder) decodeStruct(n *node, v reflect.Value, path string) {
	if n.kind == kindNull {
		n = &node{kind: kindMap, pos: n.pos}
	}
	if n.kind != kindMap {
		d.wrongType(n, path, wantKind(v.Type()))
		return
	}
	fields := structFields(v.Type())
	seen := map[string]bool{}
	for _, p := range d.effectivePairs(n, path) {
		f, ok := fields.byName[p.key]
		if !ok {
			msg, guess := unknownKey(p.key, fields.names)
			d.errs.add(d.file, p.keyPos, path, "%s", msg)
			if guess != "" {
				seen[guess] = true // reported as a misspelling already, not also as missing
			}
			continue
		}
		seen[p.key] = true
		kp := joinPath(path, p.key)
		d.keyPos[kp] = p.keyPos
		d.decode(p.value, v.FieldByIndex(f.index), kp)
	}
	for _, name := range fields.names {
		if fields.byName[name].required && !seen[name] {
			d.errorf(n, path, "missing required key %q", name)
		}
	}
}

func unknownKey(key string, known []string) (msg, guess string) {
	best, bestDist := "", 1<<30
	norm := func(s string) string { return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s)) }
	for _, k := range known {
		if norm(k) == norm(key) {
			best, bestDist = k, 0
			break
		}
		dist := levenshtein(strings.ToLower(key), strings.ToLower(k))
		if dist < bestDist {
			best, bestDist = k, dist
		}
	}
	limit := 2
	if len(key) <= 4 {
		limit = 1
	}
	if best != "" && bestDist <= limit {
		return fmt.Sprintf("unknown key %q; did you mean %q?", key, best), best
	}
	return fmt.Sprintf("unknown key %q; known keys here: %s", key, strings.Join(known, ", ")), ""
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

type fieldInfo struct {
	index    []int
	required bool
}

type fieldTable struct {
	byName map[string]fieldInfo
	names  []string // in declaration order
}

var fieldCache sync.Map // reflect.Type -> *fieldTable

// structFields reads the yaml tags of a struct: `yaml:"name"`, `yaml:"name,required"`,
// `yaml:",inline"` for an embedded struct whose keys join the parent's, `yaml:"-"` to skip.
func structFields(t reflect.Type) *fieldTable {
	if ft, ok := fieldCache.Load(t); ok {
		return ft.(*fieldTable)
	}
	ft := &fieldTable{byName: map[string]fieldInfo{}}
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag, ok := f.Tag.Lookup("yaml")
			if !ok || tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			idx := append(append([]int(nil), prefix...), i)
			if opts == "inline" {
				walk(f.Type, idx)
				continue
			}
			ft.byName[name] = fieldInfo{index: idx, required: opts == "required"}
			ft.names = append(ft.names, name)
		}
	}
	walk(t, nil)
	fieldCache.Store(t, ft)
	return ft
}

// yamlKeys lists the keys a struct type accepts, sorted (used to keep the JSON Schema in step).
func yamlKeys(t reflect.Type) []string {
	keys := append([]string(nil), structFields(t).names...)
	sort.Strings(keys)
	return keys
}

func wantKind(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		return wantKind(t.Elem())
	}
	if k, ok := reflect.Zero(t).Interface().(yamlKinder); ok {
		return k.yamlKind()
	}
	if t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(reflect.TypeFor[yamlKinder]()) {
		return reflect.New(t).Interface().(yamlKinder).yamlKind()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean (true or false)"
	case reflect.Struct, reflect.Map:
		return "a mapping"
	case reflect.Slice:
		return "a list"
	}
	if t.Implements(textUnmarshalerType) {
		return "a string"
	}
	return t.String()
}
