package launch

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// BuildImage builds the pushlab image from binary with deploy/image/build.sh (no base image
// is pulled) and returns its tag. Tests running at the same time give different tags.
func BuildImage(t testing.TB, binary, tag string) string {
	t.Helper()
	tag, err := buildImage(binary, tag)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

// RequireDocker skips the test without a Docker engine, except under CI (CI=true), where the
// engine is part of the contract and its absence fails the test.
func RequireDocker(t testing.TB) {
	t.Helper()
	if out, err := exec.Command("docker", "info").CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and no Docker engine: %v\n%s", err, out)
		}
		t.Skipf("no Docker engine: %v", err)
	}
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
