package catalogue

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Unit is one catalogued spec: an It, or a DescribeTable whose entries share the comment.
type Unit struct {
	Path       []string // container texts, then the It's or the table's own text
	Kind       string   // "It" or "DescribeTable"
	File       string   // base name of the source file
	Line       int
	Must       string
	Section    string
	Supersedes string
}

// Key identifies a unit by its text path.
func (u Unit) Key() string { return strings.Join(u.Path, "\x00") }

// Name is the path joined as Ginkgo joins a full spec text.
func (u Unit) Name() string { return strings.Join(u.Path, " ") }

var (
	containers = map[string]bool{"Describe": true, "Context": true, "When": true}
	units      = map[string]bool{"It": true, "Specify": true, "DescribeTable": true}
)

// Walk reads every non-test Go file of dir and returns its units in file and line order. Every
// unit must carry a comment with MUST:, Section: and Supersedes: lines; container and unit
// texts must be string literals. All problems are returned together.
func Walk(dir string) ([]Unit, []error) {
	fset := token.NewFileSet()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, []error{err}
	}
	sort.Strings(names)
	var out []Unit
	var errs []error
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		f, err := parser.ParseFile(fset, name, src, parser.ParseComments)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		w := &walker{fset: fset, file: f, base: filepath.Base(name)}
		ast.Walk(w, f)
		out = append(out, w.units...)
		errs = append(errs, w.errs...)
	}
	seen := map[string]Unit{}
	for _, u := range out {
		if prev, dup := seen[u.Key()]; dup {
			errs = append(errs, fmt.Errorf("%s:%d: %q repeats the spec text path of %s:%d", u.File, u.Line, u.Name(), prev.File, prev.Line))
		}
		seen[u.Key()] = u
	}
	return out, errs
}

type walker struct {
	fset  *token.FileSet
	file  *ast.File
	base  string
	stack []string
	units []Unit
	errs  []error
}

func callName(c *ast.CallExpr) string {
	switch f := c.Fun.(type) {
	case *ast.Ident:
		return f.Name
	case *ast.SelectorExpr:
		return f.Sel.Name
	}
	return ""
}

func (w *walker) Visit(n ast.Node) ast.Visitor {
	c, ok := n.(*ast.CallExpr)
	if !ok {
		return w
	}
	name := callName(c)
	if !containers[name] && !units[name] {
		return w
	}
	pos := w.fset.Position(c.Pos())
	if len(c.Args) == 0 {
		return w
	}
	text, err := literal(c.Args[0])
	if err != nil {
		w.errs = append(w.errs, fmt.Errorf("%s:%d: %s text: %v", w.base, pos.Line, name, err))
		return nil
	}
	if containers[name] {
		w.stack = append(w.stack, text)
		for _, a := range c.Args[1:] {
			ast.Walk(w, a)
		}
		w.stack = w.stack[:len(w.stack)-1]
		return nil
	}
	u := Unit{Path: append(append([]string{}, w.stack...), text), Kind: name, File: w.base, Line: pos.Line}
	if name == "Specify" {
		u.Kind = "It"
	}
	comment := w.commentBefore(pos.Line)
	if comment == nil {
		w.errs = append(w.errs, fmt.Errorf("%s:%d: %s %q has no structured comment (MUST:, Section:, Supersedes:)", w.base, pos.Line, name, text))
	} else if err := parseComment(comment.Text(), &u); err != nil {
		w.errs = append(w.errs, fmt.Errorf("%s:%d: %s %q: %v", w.base, pos.Line, name, text, err))
	}
	w.units = append(w.units, u)
	return nil
}

// commentBefore is the comment group ending on the line just above line.
func (w *walker) commentBefore(line int) *ast.CommentGroup {
	for _, cg := range w.file.Comments {
		if w.fset.Position(cg.End()).Line == line-1 {
			return cg
		}
	}
	return nil
}

func literal(e ast.Expr) (string, error) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", fmt.Errorf("not a string literal")
	}
	return strconv.Unquote(lit.Value)
}

// parseComment reads the MUST:, Section: and Supersedes: fields; a line that starts with none
// of them continues the previous field.
func parseComment(text string, u *Unit) error {
	var cur *string
	fields := map[string]*string{"MUST": &u.Must, "Section": &u.Section, "Supersedes": &u.Supersedes}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		matched := false
		for k, p := range fields {
			if v, ok := strings.CutPrefix(line, k+":"); ok {
				if *p != "" {
					return fmt.Errorf("%s: given twice", k)
				}
				*p = strings.TrimSpace(v)
				cur, matched = p, true
				break
			}
		}
		if !matched && cur != nil {
			*cur += " " + line
		}
	}
	var missing []string
	for _, k := range []string{"MUST", "Section", "Supersedes"} {
		if *fields[k] == "" {
			missing = append(missing, k+":")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("comment lacks %s", strings.Join(missing, ", "))
	}
	if !strings.HasPrefix(u.Section, "§") {
		return fmt.Errorf("Section %q does not name a protocol.md section (§N)", u.Section)
	}
	return nil
}
