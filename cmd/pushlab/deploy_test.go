package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/pushlab/pushlab/fakenodes/fleetrun"
)

// k8sDoc is the part of a Kubernetes object the manifests' checks read.
type k8sDoc struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		AccessModes    []string `yaml:"accessModes"`
		CompletionMode string   `yaml:"completionMode"`
		Completions    int      `yaml:"completions"`
		Parallelism    int      `yaml:"parallelism"`
		Template       struct {
			Spec struct {
				Containers []struct {
					Image        string   `yaml:"image"`
					Args         []string `yaml:"args"`
					VolumeMounts []struct {
						Name      string `yaml:"name"`
						MountPath string `yaml:"mountPath"`
						ReadOnly  bool   `yaml:"readOnly"`
					} `yaml:"volumeMounts"`
				} `yaml:"containers"`
				Volumes []struct {
					Name                  string `yaml:"name"`
					PersistentVolumeClaim *struct {
						ClaimName string `yaml:"claimName"`
					} `yaml:"persistentVolumeClaim"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func readManifest(t *testing.T, name string) []k8sDoc {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "deploy", "k8s", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var docs []k8sDoc
	dec := yaml.NewDecoder(f)
	for {
		var d k8sDoc
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		docs = append(docs, d)
	}
}

// mountOf returns the volume mounted where p lies, and whether the mount is writable.
func mountOf(d k8sDoc, p string) (volume string, writable, ok bool) {
	for _, m := range d.Spec.Template.Spec.Containers[0].VolumeMounts {
		if strings.HasPrefix(path.Clean(p)+"/", path.Clean(m.MountPath)+"/") {
			return m.Name, !m.ReadOnly, true
		}
	}
	return "", false, false
}

func claimOf(d k8sDoc, volume string) string {
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == volume && v.PersistentVolumeClaim != nil {
			return v.PersistentVolumeClaim.ClaimName
		}
	}
	return ""
}

// TestKubernetesFleetManifests checks deploy/k8s as far as it goes without a cluster: every
// pod's arguments, with the completion index expanded as Kubernetes does, are flags that
// `pushlab fleet` takes; the shards are exactly the Job's completions; the keys, the plan and
// the report lie on mounted volumes, the reports on a writable claim shared by several nodes,
// the very one the gathering Job reads.
func TestKubernetesFleetManifests(t *testing.T) {
	docs := readManifest(t, "fleet-indexed-job.yaml")
	var job k8sDoc
	claims := map[string][]string{}
	for _, d := range docs {
		switch d.Kind {
		case "Job":
			job = d
		case "PersistentVolumeClaim":
			claims[d.Metadata.Name] = d.Spec.AccessModes
		}
	}
	if job.Spec.CompletionMode != "Indexed" || job.Spec.Completions < 2 || job.Spec.Parallelism != job.Spec.Completions ||
		len(job.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("the fleet Job: %+v", job.Spec)
	}
	n := job.Spec.Completions
	reportClaim := ""
	reports := map[string]bool{}
	for i := range n {
		var args []string
		for _, a := range job.Spec.Template.Spec.Containers[0].Args {
			args = append(args, strings.ReplaceAll(a, "$(JOB_COMPLETION_INDEX)", fmt.Sprint(i)))
		}
		if len(args) == 0 || args[0] != "fleet" {
			t.Fatalf("args %q: want fleet first", args)
		}
		cmd := newFleetCommand()
		if err := cmd.ParseFlags(args[1:]); err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
		fl := cmd.Flags()
		get := func(name string) string { return fl.Lookup(name).Value.String() }
		if shard, shards, err := fleetrun.ParseShard(get("shard")); err != nil || shard != i || shards != n {
			t.Errorf("pod %d: --shard %s (%v), want %d/%d", i, get("shard"), err, i, n)
		}
		if get("duration") == "0s" {
			t.Errorf("pod %d: no --duration: the Job would never complete", i)
		}
		for _, name := range []string{"key", "node-key", "behaviours"} {
			if _, _, ok := mountOf(job, get(name)); !ok {
				t.Errorf("pod %d: --%s %s is on no volume", i, name, get(name))
			}
		}
		rep := get("report")
		vol, writable, ok := mountOf(job, rep)
		if !ok || !writable || reports[rep] || !strings.HasSuffix(rep, ".json") {
			t.Errorf("pod %d: --report %s: volume %q, writable %v, or not its own JSON file", i, rep, vol, writable)
		}
		reports[rep] = true
		reportClaim = claimOf(job, vol)
	}
	if modes := claims[reportClaim]; reportClaim == "" || len(modes) != 1 || modes[0] != "ReadWriteMany" {
		t.Errorf("reports claim %q, access modes %v: want one written by pods on several nodes (ReadWriteMany)", reportClaim, modes)
	}

	gather := readManifest(t, "fleet-gather-job.yaml")
	if len(gather) != 1 || gather[0].Kind != "Job" || len(gather[0].Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("the gathering Job: %+v", gather)
	}
	g := gather[0]
	args := g.Spec.Template.Spec.Containers[0].Args
	cmd, rest, err := newRootCommand().Find(args)
	if err != nil || cmd.Name() != "merge" || cmd.Parent().Name() != "fleet" {
		t.Fatalf("gather args %q: %v", args, err)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Fatal(err)
	}
	dirs := cmd.Flags().Args()
	outs, _ := cmd.Flags().GetStringArray("output")
	if len(dirs) != 1 || len(outs) == 0 {
		t.Fatalf("gather reads %q, writes %q", dirs, outs)
	}
	for _, p := range append([]string{dirs[0]}, outs...) {
		vol, writable, ok := mountOf(g, p)
		if !ok || !writable || claimOf(g, vol) != reportClaim {
			t.Errorf("gather: %s is not on the writable reports claim %q", p, reportClaim)
		}
	}
	for rep := range reports {
		if path.Dir(rep) != path.Clean(dirs[0]) {
			t.Errorf("the gathering reads %s, the shard writes %s", dirs[0], rep)
		}
	}
}
