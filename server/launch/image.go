package launch

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// BuildImage builds the pushlab image from binary with deploy/image/build.sh (no base image
// is pulled) and returns its tag.
func BuildImage(t testing.TB, binary string) string {
	t.Helper()
	tag, err := buildImage(binary, "pushlab:test")
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

func buildImage(binary, tag string) (string, error) {
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "deploy", "image", "build.sh")
	cmd := exec.Command("bash", script, binary, tag)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("building image: %v\n%s", err, stderr.String())
	}
	lines := strings.Fields(string(out))
	if len(lines) == 0 {
		return "", fmt.Errorf("building image: no tag printed\n%s", stderr.String())
	}
	return lines[len(lines)-1], nil
}
