package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ErrSchema is returned by Load and Decode for a report of another format or version.
var ErrSchema = errors.New("not a " + Schema + " report")

// WriteJSON writes the report as indented JSON. Checks and thresholds are always arrays, never null.
func (r *Report) WriteJSON(w io.Writer) error {
	out := *r
	if out.Schema == "" {
		out.Schema = Schema
	}
	if out.Checks == nil {
		out.Checks = []Check{}
	}
	if out.Thresholds == nil {
		out.Thresholds = []Threshold{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&out); err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	return nil
}

// Decode reads a JSON report and checks its schema.
func Decode(rd io.Reader) (*Report, error) {
	data, err := io.ReadAll(rd)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := DecodeSchema(data, Schema, ErrSchema, "report", &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// DecodeSchema decodes the JSON document data into v once its "schema" field says schema; a
// missing or other schema is errSchema. what names the document in errors ("report").
func DecodeSchema(data []byte, schema string, errSchema error, what string, v any) error {
	var head struct {
		Schema *string `json:"schema"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return fmt.Errorf("decode %s: %w", what, err)
	}
	switch {
	case head.Schema == nil:
		return fmt.Errorf("%w: no schema field", errSchema)
	case *head.Schema != schema:
		return fmt.Errorf("%w: schema is %q", errSchema, *head.Schema)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %s: %w", what, err)
	}
	return nil
}

// Load reads a JSON report from path and checks its schema.
func Load(path string) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// Write writes the report to path in the format its name asks for: .html or .htm for HTML,
// .xml for JUnit XML, .txt for the plain terminal summary, anything else for JSON. The file is
// written to a temporary name first and renamed, so readers never see half a report.
func (r *Report) Write(path string) error {
	var buf bytes.Buffer
	var err error
	switch strings.ToLower(filepath.Ext(path)) {
	case ".html", ".htm":
		err = r.WriteHTML(&buf)
	case ".xml":
		err = r.WriteJUnit(&buf)
	case ".txt":
		err = r.WriteSummary(&buf, SummaryOptions{})
	default:
		err = r.WriteJSON(&buf)
	}
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, buf.Bytes())
}

// WriteFileAtomic writes data to path (mode 0644, directories made as needed) through a
// temporary file in the same directory and a rename, so readers never see half a file.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp, 0o644)
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, werr)
	}
	return nil
}
