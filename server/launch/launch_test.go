package launch

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

var binary string

// TestMain builds the pushlab binary the tests start.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pushlab-launch")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "pushlab")
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	build := exec.Command("go", "build", "-o", binary, "./cmd/pushlab")
	build.Dir = root
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		panic("building pushlab: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type status struct {
	Status        string `json:"status"`
	IncarnationID string `json:"incarnation_id"`
}

func getStatus(url string, timeout time.Duration) (status, error) {
	c := &http.Client{Timeout: timeout}
	resp, err := c.Get(url + "/pushy/_status")
	if err != nil {
		return status{}, err
	}
	defer resp.Body.Close()
	var s status
	err = json.NewDecoder(resp.Body).Decode(&s)
	return s, err
}

// faults runs the same fault sequence against a started server: pause (no answer), resume
// (answers, same incarnation), restart (answers, new incarnation, keys kept), kill (no
// answer), restart after kill.
func faults(t *testing.T, s Server, dataDir string) {
	t.Helper()
	ctx := context.Background()
	first, err := getStatus(s.URL(), 5*time.Second)
	if err != nil || first.Status != "it's alive" || first.IncarnationID == "" {
		t.Fatalf("status %+v %v", first, err)
	}
	key, err := os.ReadFile(filepath.Join(dataDir, "keys", "admin.pem"))
	if err != nil {
		t.Fatalf("admin key: %v", err)
	}

	if err := s.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := getStatus(s.URL(), 300*time.Millisecond); err == nil {
		t.Fatal("a paused server answered")
	}
	if err := s.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := getStatus(s.URL(), 5*time.Second); err != nil || st.IncarnationID != first.IncarnationID {
		t.Fatalf("after resume: %+v %v", st, err)
	}

	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	second, err := getStatus(s.URL(), 5*time.Second)
	if err != nil || second.IncarnationID == first.IncarnationID {
		t.Fatalf("after restart: %+v %v (first incarnation %s)", second, err, first.IncarnationID)
	}
	if again, _ := os.ReadFile(filepath.Join(dataDir, "keys", "admin.pem")); string(again) != string(key) {
		t.Fatal("the admin key changed over a restart")
	}

	if err := s.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := getStatus(s.URL(), time.Second); err == nil {
		t.Fatal("a killed server answered")
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if third, err := getStatus(s.URL(), 5*time.Second); err != nil || third.IncarnationID == second.IncarnationID {
		t.Fatalf("after kill and restart: %+v %v", third, err)
	}
}

func TestProcessFaults(t *testing.T) {
	dir := t.TempDir()
	p, err := StartProcess(context.Background(), binary, Options{DataDir: dir, Args: []string{"--heartbeat-interval", "100ms"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	faults(t, p, dir)
}

func TestProcessThatCannotStartFailsFast(t *testing.T) {
	start := time.Now()
	_, err := StartProcess(context.Background(), binary, Options{DataDir: t.TempDir(), Args: []string{"--heartbeat-interval", "-1s"}}, nil)
	if err == nil {
		t.Fatal("a server with a bad flag started")
	}
	if time.Since(start) > 30*time.Second {
		t.Fatalf("failing start took %v", time.Since(start))
	}
}

// TestContainerFaults builds the image from nothing (FROM scratch) and runs the fault
// sequence against it through testcontainers-go with host networking.
func TestContainerFaults(t *testing.T) {
	RequireDocker(t)
	image := BuildImage(t, binary, "pushlab:test-launch")
	dir := t.TempDir()
	c, err := StartContainer(context.Background(), Options{DataDir: dir, Args: []string{"--heartbeat-interval", "100ms"}}, ContainerOptions{Image: image})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	faults(t, c, dir)
}
