package reports

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// File is one file of an artifact bundle: either the bytes in Data or the file at Path.
type File struct {
	// Name is the file's path inside the bundle, slash-separated and relative: "logs/server.log".
	Name string
	Path string
	Data []byte
}

// FromPath is the file at path, stored in the bundle as name.
func FromPath(name, path string) File { return File{Name: name, Path: path} }

// FromBytes is data, stored in the bundle as name.
func FromBytes(name string, data []byte) File { return File{Name: name, Data: data} }

// Names of the files Bundle writes itself.
const (
	BundleReportJSON = "report.json"
	BundleReportHTML = "report.html"
	BundleJUnit      = "junit.xml"
	BundleSummary    = "summary.txt"
	BundleReadme     = "README.txt"
	BundleManifest   = "manifest.json"
)

// ManifestEntry describes one file of a bundle.
type ManifestEntry struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Manifest lists a bundle's files.
type Manifest struct {
	Schema   string          `json:"schema"`
	Scenario string          `json:"scenario"`
	Seed     int64           `json:"seed"`
	Verdict  Verdict         `json:"verdict"`
	Files    []ManifestEntry `json:"files"`
}

// Bundle writes an artifact bundle for a bug report: the report as JSON, HTML, JUnit XML and the
// plain summary, a README naming the scenario and seed, a manifest with checksums, and the given
// files (scenario, history as NDJSON, logs, ...). dest is a directory, or a gzipped tarball when
// it ends in .tar.gz or .tgz, whose entries sit under one directory named after it. Files given by
// path are streamed, never held in memory whole.
func Bundle(dest string, r *Report, files ...File) error {
	entries, err := bundleEntries(r, files)
	if err != nil {
		return err
	}
	lower := strings.ToLower(dest)
	if strings.HasSuffix(lower, ".tar.gz") || strings.HasSuffix(lower, ".tgz") {
		return writeTarball(dest, r, entries)
	}
	for _, e := range entries {
		p := filepath.Join(dest, filepath.FromSlash(e.name))
		if err := e.writeTo(p); err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
	}
	return nil
}

// bundleEntry is one file of the bundle: data in memory, or the file at path.
type bundleEntry struct {
	name string
	data []byte
	path string
	size int64
	sum  string
}

func (e bundleEntry) open() (io.ReadCloser, error) {
	if e.path != "" {
		return os.Open(e.path)
	}
	return io.NopCloser(bytes.NewReader(e.data)), nil
}

// writeTo copies the entry to the file p, through a temporary name.
func (e bundleEntry) writeTo(p string) error {
	if e.path == "" {
		return WriteFileAtomic(p, e.data)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	src, err := e.open()
	if err != nil {
		return err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".*")
	if err != nil {
		return err
	}
	_, err = io.Copy(tmp, src)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

func bundleEntries(r *Report, files []File) ([]bundleEntry, error) {
	var entries []bundleEntry
	seen := map[string]bool{}
	add := func(e bundleEntry) error {
		if seen[e.name] {
			return fmt.Errorf("bundle: two files named %q", e.name)
		}
		seen[e.name] = true
		entries = append(entries, e)
		return nil
	}
	render := []struct {
		name  string
		write func(io.Writer) error
	}{
		{BundleReportJSON, r.WriteJSON},
		{BundleReportHTML, r.WriteHTML},
		{BundleJUnit, r.WriteJUnit},
		{BundleSummary, func(w io.Writer) error { return r.WriteSummary(w, SummaryOptions{}) }},
	}
	for _, x := range render {
		var buf bytes.Buffer
		if err := x.write(&buf); err != nil {
			return nil, fmt.Errorf("bundle %s: %w", x.name, err)
		}
		if err := add(bundleEntry{name: x.name, data: buf.Bytes()}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		name, err := cleanBundleName(f.Name)
		if err != nil {
			return nil, err
		}
		if name == BundleReadme || name == BundleManifest {
			return nil, fmt.Errorf("bundle: %q is a reserved name", name)
		}
		e := bundleEntry{name: name, data: f.Data}
		if f.Path != "" {
			st, err := os.Stat(f.Path)
			if err != nil {
				return nil, fmt.Errorf("bundle: %w", err)
			}
			if !st.Mode().IsRegular() {
				return nil, fmt.Errorf("bundle: %s is not a regular file", f.Path)
			}
			e.data, e.path = nil, f.Path
		}
		if err := add(e); err != nil {
			return nil, err
		}
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].name < entries[j].name })

	m := Manifest{Schema: Schema, Scenario: r.Scenario.Name, Seed: r.Scenario.Seed, Verdict: r.Verdict}
	for i := range entries {
		e := &entries[i]
		h := sha256.New()
		src, err := e.open()
		if err != nil {
			return nil, fmt.Errorf("bundle: %w", err)
		}
		n, err := io.Copy(h, src)
		src.Close()
		if err != nil {
			return nil, fmt.Errorf("bundle: %w", err)
		}
		e.size, e.sum = n, hex.EncodeToString(h.Sum(nil))
		m.Files = append(m.Files, ManifestEntry{Name: e.name, Size: n, SHA256: e.sum})
	}
	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	mj = append(mj, '\n')
	readme := bundleReadme(r, m)
	entries = append(entries,
		bundleEntry{name: BundleManifest, data: mj, size: int64(len(mj))},
		bundleEntry{name: BundleReadme, data: readme, size: int64(len(readme))})
	return entries, nil
}

func bundleReadme(r *Report, m Manifest) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "pushlab artifact bundle\n\n")
	fmt.Fprintf(&b, "scenario: %s\n", clean(r.Scenario.Name))
	if r.Scenario.File != "" {
		fmt.Fprintf(&b, "file:     %s\n", clean(r.Scenario.File))
	}
	fmt.Fprintf(&b, "seed:     %d (the same scenario with this seed runs the same schedule)\n", r.Scenario.Seed)
	fmt.Fprintf(&b, "target:   %s\n", clean(r.Target.String()))
	fmt.Fprintf(&b, "verdict:  %s (exit %d) %s\n", r.Verdict, r.ExitCode, clean(r.Reason))
	fmt.Fprintf(&b, "pushlab:  %s\n", clean(r.Tool.Version))
	if !r.Start.IsZero() {
		fmt.Fprintf(&b, "run:      %s, %s\n", r.Start.UTC().Format(time.RFC3339), fmtDuration(r.Duration().Round(time.Millisecond)))
	}
	if failed := r.Failed(); len(failed) > 0 {
		fmt.Fprintf(&b, "\nfailed checks:\n")
		for _, c := range failed {
			fmt.Fprintf(&b, "  %s  %s\n", clean(c.ID), clean(c.Name))
		}
	}
	fmt.Fprintf(&b, "\nfiles:\n")
	for _, f := range m.Files {
		fmt.Fprintf(&b, "  %-28s %10d bytes\n", f.Name, f.Size)
	}
	fmt.Fprintf(&b, "\nOpen report.html in a browser (it needs no network); report.json is the full record.\n")
	return []byte(b.String())
}

// cleanBundleName checks that name stays inside the bundle.
func cleanBundleName(name string) (string, error) {
	n := path.Clean(strings.ReplaceAll(name, `\`, "/"))
	if name == "" || n == "." || path.IsAbs(n) || n == ".." || strings.HasPrefix(n, "../") {
		return "", fmt.Errorf("bundle: file name %q must be a relative path inside the bundle", name)
	}
	return n, nil
}

// writeTarball streams the entries into a gzipped tarball at dest, through a temporary name.
func writeTarball(dest string, r *Report, entries []bundleEntry) (err error) {
	base := filepath.Base(dest)
	for _, ext := range []string{".tar.gz", ".tgz", ".TAR.GZ", ".TGZ"} {
		base = strings.TrimSuffix(base, ext)
	}
	mtime := r.End
	if mtime.IsZero() {
		mtime = time.Now()
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	out, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".*")
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("bundle: %w", cerr)
		}
		if err == nil {
			if err = os.Chmod(out.Name(), 0o644); err == nil {
				err = os.Rename(out.Name(), dest)
			}
		}
		if err != nil {
			os.Remove(out.Name())
		}
	}()
	gz := gzip.NewWriter(out)
	tw := tar.NewWriter(gz)
	dirs := map[string]bool{}
	mkdir := func(d string) error {
		if dirs[d] {
			return nil
		}
		dirs[d] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX})
	}
	if err := mkdir(base); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	for _, e := range entries {
		if d := path.Dir(e.name); d != "." {
			parts := strings.Split(d, "/")
			for i := range parts {
				if err := mkdir(base + "/" + strings.Join(parts[:i+1], "/")); err != nil {
					return fmt.Errorf("bundle: %w", err)
				}
			}
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: base + "/" + e.name, Mode: 0o644, Size: e.size, ModTime: mtime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
		src, err := e.open()
		if err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
		_, err = io.CopyN(tw, src, e.size)
		src.Close()
		if err != nil {
			return fmt.Errorf("bundle: %s changed while it was bundled: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	return nil
}
