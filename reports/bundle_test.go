package reports

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// bundleInputs writes a scenario, a history and a log to disk and returns them as bundle files.
func bundleInputs(t *testing.T) []File {
	t.Helper()
	dir := t.TempDir()
	scenario := filepath.Join(dir, "smoke.yaml")
	history := filepath.Join(dir, "history.ndjson")
	os.WriteFile(scenario, []byte("apiVersion: pushlab/v1\nkind: Scenario\n"), 0o644)
	var h bytes.Buffer
	for i := 0; i < 1000; i++ {
		h.WriteString(`{"t":1.5,"kind":"sse","event":"run_start","node":"node-0042"}` + "\n")
	}
	os.WriteFile(history, h.Bytes(), 0o644)
	return []File{
		FromPath("scenario.yaml", scenario),
		FromPath("history.ndjson", history),
		FromBytes("logs/server.log", []byte("listening on 127.0.0.1:10003\n")),
		FromBytes("logs/fleet/shard-0.log", []byte("1000 nodes up\n")),
	}
}

var wantBundle = []string{
	"README.txt", "history.ndjson", "junit.xml", "logs/fleet/shard-0.log", "logs/server.log", "manifest.json",
	"report.html", "report.json", "scenario.yaml", "summary.txt",
}

// checkBundleFiles checks the bundle's contents, given as name → bytes.
func checkBundleFiles(t *testing.T, files map[string][]byte) {
	t.Helper()
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	if strings.Join(names, " ") != strings.Join(wantBundle, " ") {
		t.Fatalf("bundle holds %v\nwant %v", names, wantBundle)
	}
	var m Manifest
	if err := json.Unmarshal(files["manifest.json"], &m); err != nil {
		t.Fatal(err)
	}
	if m.Seed != 42 || m.Scenario != "smoke" || m.Verdict != VerdictFail || len(m.Files) != len(wantBundle)-2 {
		t.Errorf("manifest %+v", m)
	}
	for _, e := range m.Files {
		sum := sha256.Sum256(files[e.Name])
		if hex.EncodeToString(sum[:]) != e.SHA256 || int64(len(files[e.Name])) != e.Size {
			t.Errorf("manifest entry %s does not match the file", e.Name)
		}
	}
	readme := string(files["README.txt"])
	for _, want := range []string{"scenario: smoke", "seed:     42", "verdict:  fail (exit 1)", "node-status  node statuses match the oracle", "history.ndjson"} {
		if !strings.Contains(readme, want) {
			t.Errorf("README lacks %q:\n%s", want, readme)
		}
	}
	r, err := Decode(bytes.NewReader(files["report.json"]))
	if err != nil || r.Scenario.Seed != 42 {
		t.Errorf("report.json: %v", err)
	}
	if !bytes.HasPrefix(files["report.html"], []byte("<!DOCTYPE html>")) || !bytes.Contains(files["junit.xml"], []byte("<testsuites")) ||
		!bytes.Contains(files["summary.txt"], []byte("VERDICT: FAIL")) {
		t.Error("rendered reports")
	}
	if len(files["history.ndjson"]) != 1000*len(`{"t":1.5,"kind":"sse","event":"run_start","node":"node-0042"}`+"\n") {
		t.Error("history truncated")
	}
}

func TestBundleDirectory(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "bundle")
	if err := Bundle(dest, sampleReport(), bundleInputs(t)...); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	filepath.WalkDir(dest, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dest, p)
		files[filepath.ToSlash(rel)], _ = os.ReadFile(p)
		return nil
	})
	checkBundleFiles(t, files)
}

func TestBundleTarball(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "out", "smoke-42.tar.gz")
	if err := Bundle(dest, sampleReport(), bundleInputs(t)...); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(dest)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	files := map[string][]byte{}
	dirs := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(h.Name, "smoke-42/") {
			t.Errorf("entry %s outside the bundle's directory", h.Name)
		}
		if h.Typeflag == tar.TypeDir {
			dirs[h.Name] = true
			continue
		}
		if !dirs[filepath.Dir(h.Name)+"/"] {
			t.Errorf("%s comes before its directory", h.Name)
		}
		b, _ := io.ReadAll(tr)
		files[strings.TrimPrefix(h.Name, "smoke-42/")] = b
	}
	checkBundleFiles(t, files)
	leftovers, _ := os.ReadDir(filepath.Dir(dest))
	if len(leftovers) != 1 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestBundleRejectsBadNames(t *testing.T) {
	r := sampleReport()
	for _, name := range []string{"../escape", "/etc/passwd", "", ".", "a/../../b", "report.json", "manifest.json"} {
		if err := Bundle(filepath.Join(t.TempDir(), "b"), r, FromBytes(name, []byte("x"))); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
	if err := Bundle(filepath.Join(t.TempDir(), "b"), r, FromPath("x", filepath.Join(t.TempDir(), "missing"))); err == nil {
		t.Error("missing file accepted")
	}
	if err := Bundle(filepath.Join(t.TempDir(), "b"), r, FromBytes("a/./b.log", nil), FromBytes("a/b.log", nil)); err == nil {
		t.Error("two files with the same name accepted")
	}
}
