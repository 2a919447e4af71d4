package catalogue

import (
	"bytes"
	"fmt"
	"go/format"
	"sort"
	"strconv"
	"strings"

	"github.com/pushlab/pushlab/server/mutant"
)

// Stats is what the running spec tree adds to a unit: how many examples (specs) it has and
// their labels.
type Stats struct {
	Examples int
	Labels   []string       // every label some example carries, sorted
	ByLabel  map[string]int // examples per label
}

// Markdown renders the catalogue: a summary, coverage by section and by original spec file,
// then every unit grouped by source file.
func Markdown(units []Unit, stats map[string]Stats, labelHelp map[string]string) []byte {
	var b bytes.Buffer
	total := 0
	for _, u := range units {
		total += stats[u.Key()].Examples
	}
	b.WriteString("<!-- Generated from the structured comments of conformance/specs; do not edit.\n")
	b.WriteString("     Regenerate with: go generate ./conformance -->\n\n")
	b.WriteString("# Conformance catalogue\n\n")
	fmt.Fprintf(&b, "The conformance suite holds **%d specs** (Ginkgo examples, table entries counted) in %d catalogued units. ", total, len(units))
	b.WriteString("Each unit states a rule that MUST hold, the section of `shared/protocol.md` it comes from, and the test of the original ")
	b.WriteString("pushy suite (oc-pushy-pedant, protocol.md §8.2) it supersedes.\n\n")
	b.WriteString(running)
	writeMutants(&b)

	b.WriteString("## Labels\n\n| label | specs | meaning |\n|---|---|---|\n")
	labelCount := map[string]int{}
	for _, u := range units {
		for l, n := range stats[u.Key()].ByLabel {
			labelCount[l] += n
		}
	}
	lnames := make([]string, 0, len(labelHelp))
	for l := range labelHelp {
		lnames = append(lnames, l)
	}
	sort.Strings(lnames)
	for _, l := range lnames {
		fmt.Fprintf(&b, "| `%s` | %d | %s |\n", l, labelCount[l], labelHelp[l])
	}

	b.WriteString("\n## Coverage by protocol.md section\n\n| section | units | specs |\n|---|---|---|\n")
	type cov struct{ units, specs int }
	bySec := map[string]*cov{}
	for _, u := range units {
		for _, s := range splitSections(u.Section) {
			c := bySec[s]
			if c == nil {
				c = &cov{}
				bySec[s] = c
			}
			c.units++
			c.specs += stats[u.Key()].Examples
		}
	}
	secs := make([]string, 0, len(bySec))
	for s := range bySec {
		secs = append(secs, s)
	}
	sort.Slice(secs, func(i, j int) bool { return sectionLess(secs[i], secs[j]) })
	for _, s := range secs {
		fmt.Fprintf(&b, "| %s | %d | %d |\n", s, bySec[s].units, bySec[s].specs)
	}

	b.WriteString("\n## Coverage of the original suite\n\n| original spec file | units | specs |\n|---|---|---|\n")
	byOrig := map[string]*cov{}
	for _, u := range units {
		o := origin(u.Supersedes)
		c := byOrig[o]
		if c == nil {
			c = &cov{}
			byOrig[o] = c
		}
		c.units++
		c.specs += stats[u.Key()].Examples
	}
	origs := make([]string, 0, len(byOrig))
	for o := range byOrig {
		origs = append(origs, o)
	}
	sort.Strings(origs)
	for _, o := range origs {
		fmt.Fprintf(&b, "| %s | %d | %d |\n", o, byOrig[o].units, byOrig[o].specs)
	}

	b.WriteString("\n## Specs\n")
	file := ""
	for _, u := range units {
		if u.File != file {
			file = u.File
			fmt.Fprintf(&b, "\n### %s\n", file)
		}
		st := stats[u.Key()]
		labels := make([]string, len(st.Labels))
		for i, l := range st.Labels {
			labels[i] = "`" + l + "`"
		}
		fmt.Fprintf(&b, "\n#### %s\n\n", escape(u.Name()))
		kind := "spec"
		if u.Kind == "DescribeTable" {
			kind = "table"
		}
		fmt.Fprintf(&b, "- **MUST** %s\n- section: %s; %s of %d; labels %s\n- supersedes: %s\n",
			escape(u.Must), u.Section, kind, st.Examples, strings.Join(labels, " "), escape(u.Supersedes))
	}
	return b.Bytes()
}

// running is the catalogue's guide to running the suite.
const running = "## Running the suite\n\n" +
	"| how | command |\n|---|---|\n" +
	"| against an in-process reference server (default) | `go test ./conformance/...` or `pushlab conformance` |\n" +
	"| a subset | `pushlab conformance --label-filter smoke` / `go test ./conformance -args -conformance.label-filter=smoke` (also `-ginkgo.label-filter`, `-ginkgo.focus`) |\n" +
	"| against any server | `pushlab conformance --url URL --org ORG --user USER --key USER.pem --superuser-key PIVOTAL.pem` (or `--client-keys-dir DIR` of pre-registered NAME.pem node clients) |\n" +
	"| against a container image | `pushlab conformance --image IMAGE` (testcontainers-go, host network; the image runs `pushlab server` flags) |\n" +
	"| as a prebuilt binary | `go test -c -o conformance.test ./conformance` or `ginkgo build ./conformance`, then `./conformance.test -conformance.url=...` |\n" +
	"| reports | `--report-dir DIR`: `junit.xml`, `conformance.json` (Ginkgo), `results.json`, `summary.txt` |\n\n" +
	"`pushlab conformance` runs the suite compiled into the binary (Ginkgo's `RunSpecs` from the command): nothing else to build or ship. " +
	"Flags are validated before any spec runs and stray arguments are refused. Waits derive from the target's heartbeat interval " +
	"(its config endpoint); what the server does not advertise (voting timeout, wait-complete time, org feed expiration, keepalive) " +
	"defaults to the real server's values and can be given. The in-process target uses the fast timings of `server/servertest` with " +
	"500 ms heartbeats. A test can run the suite against a server built with another configuration with `conformance.Run` " +
	"(`Options.ServerConfig`), once per process, or against any number of targets with `conformance.Exec` on a compiled suite.\n\n" +
	"Verdicts: **pass**; **non-strict** — the target follows the other reading of a point where the real server's code and its public " +
	"docs disagree (protocol.md §11; `--profile pushy-3.0` (default) or `docs`; `--strict` makes it a failure); **fail**, with the " +
	"protocol.md section in the summary; **inconclusive** — a failure while the harness itself stalled for a heartbeat interval or more, " +
	"or its simulated nodes sent a heartbeat a whole interval late (an overloaded machine cannot judge liveness); **skip** — the target cannot play the spec (no superuser key, too few node keys, " +
	"not restartable). Exit status of `pushlab conformance`: 0 pass, 1 fail, 2 inconclusive, 4 invalid flags, 5 target not reachable.\n\n"

// writeMutants lists the deliberate faults of the reference server the suite must catch.
func writeMutants(b *bytes.Buffer) {
	b.WriteString("## The suite proves it can fail\n\n")
	b.WriteString("The reference server has deliberate faults, switched on one at a time (`pushlab conformance --mutant NAME`, ")
	b.WriteString("`-conformance.mutants=NAME`, `pushlab server --mutant NAME`; hidden flags, package `server/mutant`). ")
	b.WriteString("`TestMutantsAreCaught` (in `make test`) runs the suite against each, narrowed to the labels of the area the fault ")
	b.WriteString("breaks and stopping at the first failed spec, and fails unless some spec fails for every mutant.\n\n")
	b.WriteString("| mutant | the fault |\n|---|---|\n")
	for _, m := range mutant.All() {
		fmt.Fprintf(b, "| `%s` | %s |\n", m, escape(mutant.Describe(m)))
	}
	b.WriteString("\n")
}

func escape(s string) string {
	return strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;").Replace(s)
}

// splitSections reads "§2.5, §3" as two sections.
func splitSections(s string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == ' ' }) {
		if strings.HasPrefix(p, "§") {
			out = append(out, strings.TrimRight(p, "."))
		}
	}
	return out
}

// sectionLess orders §2.10 after §2.9.
func sectionLess(a, b string) bool {
	pa, pb := strings.Split(strings.TrimPrefix(a, "§"), "."), strings.Split(strings.TrimPrefix(b, "§"), ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		na, ea := strconv.Atoi(pa[i])
		nb, eb := strconv.Atoi(pb[i])
		if ea != nil || eb != nil {
			if pa[i] != pb[i] {
				return pa[i] < pb[i]
			}
			continue
		}
		if na != nb {
			return na < nb
		}
	}
	return len(pa) < len(pb)
}

// origin is the original spec file a Supersedes line names first ("none" for new checks).
func origin(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return "none"
	}
	o := strings.Trim(f[0], ",;:")
	if !strings.HasSuffix(o, ".rb") && !strings.HasSuffix(o, ".erl") {
		return "none (new in this suite)"
	}
	return o
}

// Go renders the compiled-in catalogue: a file of package pkg that installs every unit with
// framework.SetCatalogue.
func Go(pkg string, units []Unit) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated from the structured spec comments by conformance/catalogue; DO NOT EDIT.\n\n")
	fmt.Fprintf(&b, "package %s\n\nimport \"github.com/pushlab/pushlab/conformance/framework\"\n\n", pkg)
	b.WriteString("func init() {\n\tframework.SetCatalogue([]framework.CatalogueEntry{\n")
	for _, u := range units {
		paths := make([]string, len(u.Path))
		for i, p := range u.Path {
			paths[i] = strconv.Quote(p)
		}
		fmt.Fprintf(&b, "\t\t{Path: []string{%s}, File: %q, Must: %q, Section: %q, Supersedes: %q},\n",
			strings.Join(paths, ", "), u.File, u.Must, u.Section, u.Supersedes)
	}
	b.WriteString("\t})\n}\n")
	return format.Source(b.Bytes())
}
