package catalogue

import (
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

func TestWalkReadsUnitsAndComments(t *testing.T) {
	units, errs := Walk("testdata/good")
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	if len(units) != 2 {
		t.Fatalf("%d units, want 2: %+v", len(units), units)
	}
	it, table := units[0], units[1]
	if it.Name() != "Outer does a thing" || it.Kind != "It" || it.Must != "A thing holds, over two lines." ||
		it.Section != "§2.5, §3" || it.Supersedes != `jobs_spec.rb "a case"` || it.File != "specs.go" || it.Line != 8 {
		t.Fatalf("It unit %+v", it)
	}
	if strings.Join(table.Path, "|") != "Outer|inner|a table" || table.Kind != "DescribeTable" || table.Section != "§6" {
		t.Fatalf("table unit %+v", table)
	}
}

func TestWalkReportsEveryProblem(t *testing.T) {
	_, errs := Walk("testdata/bad")
	var all []string
	for _, e := range errs {
		all = append(all, e.Error())
	}
	joined := strings.Join(all, "\n")
	for _, want := range []string{
		`"has no comment" has no structured comment`,
		`"has no section": comment lacks Section:`,
		`Section "2.5" does not name a protocol.md section`,
		"It text: not a string literal",
		`repeats the spec text path`,
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("no error containing %q in:\n%s", want, joined)
		}
	}
}

func TestMarkdownCountsExamplesAndCoverage(t *testing.T) {
	units, _ := Walk("testdata/good")
	stats := map[string]Stats{
		units[0].Key(): {Examples: 1, Labels: []string{"api"}, ByLabel: map[string]int{"api": 1}},
		units[1].Key(): {Examples: 2, Labels: []string{"api", "sse"}, ByLabel: map[string]int{"api": 2, "sse": 1}},
	}
	md := string(Markdown(units, stats, map[string]string{"api": "the API", "sse": "feeds"}))
	for _, want := range []string{
		"**3 specs**", "in 2 catalogued units",
		"| `api` | 3 | the API |", "| `sse` | 1 | feeds |",
		"| §2.5 | 1 | 1 |", "| §3 | 1 | 1 |", "| §6 | 1 | 2 |",
		"| jobs_spec.rb | 1 | 1 |", "| none (new in this suite) | 1 | 2 |",
		"#### Outer inner a table", "- **MUST** Each entry holds.", "table of 2",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestGoSourceIsValid(t *testing.T) {
	units, _ := Walk("testdata/good")
	src, err := Go("specs", units)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parser.ParseFile(token.NewFileSet(), "zz.go", src, 0); err != nil {
		t.Fatalf("generated source does not parse: %v\n%s", err, src)
	}
	if !strings.Contains(string(src), `Path: []string{"Outer", "inner", "a table"}`) {
		t.Fatalf("generated source:\n%s", src)
	}
}

func TestSectionOrder(t *testing.T) {
	if !sectionLess("§2.9", "§2.10") || sectionLess("§2.10", "§2.9") || !sectionLess("§2", "§2.1") || !sectionLess("§5.6", "§11") {
		t.Fatal("sections are not in numeric order")
	}
}
