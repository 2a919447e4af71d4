package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

func open(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "db", "pushlab.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var ctx = context.Background()

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestIdentity(t *testing.T) {
	s := open(t)
	now := time.Now().UTC().Truncate(time.Second)
	must(t, s.CreateOrg(ctx, Org{Name: "o", FullName: "O", GUID: "0123456789abcdef0123456789abcdef", CreatedAt: now}))
	if err := s.CreateOrg(ctx, Org{Name: "o", FullName: "O", GUID: "x"}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate org: %v", err)
	}
	o, err := s.GetOrg(ctx, "o")
	must(t, err)
	if o.GUID != "0123456789abcdef0123456789abcdef" || !o.CreatedAt.Equal(now) {
		t.Fatalf("org %+v", o)
	}
	if _, err := s.GetOrg(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing org: %v", err)
	}
	must(t, s.CreateUser(ctx, User{Name: "alice", Email: "a@x"}, &Key{Name: "default", PublicKeyPEM: "PEM-A"}))
	if err := s.CreateUser(ctx, User{Name: "alice"}, nil); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate user: %v", err)
	}
	must(t, s.AddOrgUser(ctx, "o", "alice"))
	if err := s.AddOrgUser(ctx, "o", "alice"); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate association: %v", err)
	}
	if err := s.AddOrgUser(ctx, "o", "bob"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("association of a missing user: %v", err)
	}
	if m, _ := s.IsOrgMember(ctx, "o", "alice"); !m {
		t.Fatal("alice not a member")
	}
	must(t, s.CreateClient(ctx, Client{Org: "o", Name: "DONKEY"}, &Key{Name: "default", PublicKeyPEM: "PEM-D"}))
	if err := s.CreateClient(ctx, Client{Org: "o", Name: "DONKEY"}, nil); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate client: %v", err)
	}
	if err := s.CreateClient(ctx, Client{Org: "nope", Name: "x"}, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("client in a missing org: %v", err)
	}
	exp := now.Add(-time.Hour)
	must(t, s.AddKey(ctx, KindClient, "o", "DONKEY", Key{Name: "old", PublicKeyPEM: "PEM-OLD", Expires: exp}))
	ks, err := s.ListKeys(ctx, KindClient, "o", "DONKEY")
	must(t, err)
	if len(ks) != 2 || ks[0].Name != "default" || ks[1].Name != "old" || !ks[1].Expired(now) || ks[0].Expired(now) {
		t.Fatalf("keys %+v", ks)
	}
	// groups, nested, rename, delete
	must(t, s.CreateGroup(ctx, "o", "admins"))
	must(t, s.CreateGroup(ctx, "o", "nested"))
	users, clients, groups := []string{"alice", "alice"}, []string{"DONKEY"}, []string{"nested"}
	must(t, s.PutGroupMembers(ctx, "o", "admins", &users, &clients, &groups))
	g, err := s.GetGroup(ctx, "o", "admins")
	must(t, err)
	if fmt.Sprint(g.Users, g.Clients, g.Groups) != "[alice] [DONKEY] [nested]" {
		t.Fatalf("group %+v", g)
	}
	none := []string{}
	must(t, s.PutGroupMembers(ctx, "o", "admins", nil, &none, nil))
	g, _ = s.GetGroup(ctx, "o", "admins")
	if fmt.Sprint(g.Users, g.Clients, g.Groups) != "[alice] [] [nested]" {
		t.Fatalf("partial replace kept wrong lists: %+v", g)
	}
	must(t, s.RenameGroup(ctx, "o", "nested", "inner"))
	g, _ = s.GetGroup(ctx, "o", "admins")
	if fmt.Sprint(g.Groups) != "[inner]" {
		t.Fatalf("rename did not follow into parents: %+v", g)
	}
	must(t, s.DeleteUser(ctx, "alice"))
	g, _ = s.GetGroup(ctx, "o", "admins")
	if len(g.Users) != 0 {
		t.Fatalf("deleted user still in group: %+v", g)
	}
	if m, _ := s.IsOrgMember(ctx, "o", "alice"); m {
		t.Fatal("deleted user still associated")
	}
	must(t, s.DeleteOrg(ctx, "o"))
	if _, err := s.GetClient(ctx, "o", "DONKEY"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("client survived its org: %v", err)
	}
	if ks, _ := s.ListKeys(ctx, KindClient, "o", "DONKEY"); len(ks) != 0 {
		t.Fatalf("client keys survived their org: %v", ks)
	}
	if _, err := s.GetGroup(ctx, "o", "admins"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("group survived its org: %v", err)
	}
}

func TestJobs(t *testing.T) {
	s := open(t)
	now := time.Now().UTC()
	must(t, s.CreateOrg(ctx, Org{Name: "o", FullName: "O", GUID: "g"}))
	user := "root"
	j := Job{ID: "j1", Org: "o", Command: "echo", Status: "voting", RunTimeout: 3600, Quorum: 2, Requestor: "admin", User: &user,
		Env: map[string]string{"A": "1"}, File: "raw:x", CaptureOutput: true, CreatedAt: now, UpdatedAt: now,
		Nodes: map[string]string{"a": "new", "b": "new"}}
	must(t, s.CreateJob(ctx, j))
	if err := s.CreateJob(ctx, j); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate job: %v", err)
	}
	must(t, s.UpdateNodeStatuses(ctx, []NodeStatus{{"j1", "a", "running", now}, {"j1", "b", "unavailable", now}}))
	must(t, s.UpdateJobStatus(ctx, "j1", "running", now.Add(time.Second)))
	got, err := s.GetJob(ctx, "j1")
	must(t, err)
	if got.Status != "running" || got.Nodes["a"] != "running" || got.Nodes["b"] != "unavailable" || *got.User != "root" || got.Dir != nil ||
		got.Env["A"] != "1" || got.File != "raw:x" || !got.CaptureOutput || got.Quorum != 2 || !got.UpdatedAt.After(got.CreatedAt) {
		t.Fatalf("job %+v", got)
	}
	if err := s.UpdateJobStatus(ctx, "nope", "x", now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update of a missing job: %v", err)
	}
	must(t, s.PutOutput(ctx, "j1", "a", []byte("out\n"), nil))
	so, se, err := s.GetOutput(ctx, "j1", "a")
	must(t, err)
	if string(so) != "out\n" || se == nil || len(se) != 0 {
		t.Fatalf("output %q %q", so, se)
	}
	if _, _, err := s.GetOutput(ctx, "j1", "b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing output: %v", err)
	}
	must(t, s.CreateJob(ctx, Job{ID: "j2", Org: "o", Status: "complete", CreatedAt: now, UpdatedAt: now, Nodes: map[string]string{"a": "succeeded"}}))
	n, err := s.CrashUnfinished(ctx, now)
	must(t, err)
	if n != 1 {
		t.Fatalf("crashed %d jobs, want 1", n)
	}
	got, _ = s.GetJob(ctx, "j1")
	if got.Status != "crashed" || got.Nodes["a"] != "crashed" || got.Nodes["b"] != "unavailable" {
		t.Fatalf("after crash %+v", got)
	}
	got, _ = s.GetJob(ctx, "j2")
	if got.Status != "complete" {
		t.Fatalf("finished job changed: %+v", got)
	}
	list, err := s.ListJobs(ctx, "o")
	must(t, err)
	if len(list) != 2 || list[0].Nodes != nil {
		t.Fatalf("list %+v", list)
	}
}

// TestKillDurability kills a writer process with SIGKILL mid-write and checks that every write it
// reported as committed is there and the database is intact.
func TestKillDurability(t *testing.T) {
	if path := os.Getenv("PUSHLAB_STORE_WRITER"); path != "" {
		writer(path)
		return
	}
	path := filepath.Join(t.TempDir(), "pushlab.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillDurability$")
	cmd.Env = append(os.Environ(), "PUSHLAB_STORE_WRITER="+path)
	out, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	sc := bufio.NewScanner(out)
	var committed []string
	for sc.Scan() && len(committed) < 300 {
		if id, ok := cutPrefix(sc.Text(), "committed "); ok {
			committed = append(committed, id)
		}
	}
	must(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	if len(committed) < 300 {
		t.Fatalf("writer reported only %d commits", len(committed))
	}
	s, err := Open(path)
	must(t, err)
	defer s.Close()
	must(t, s.IntegrityCheck(ctx))
	for _, id := range committed {
		j, err := s.GetJob(ctx, id)
		if err != nil {
			t.Fatalf("committed job %s lost: %v", id, err)
		}
		if len(j.Nodes) != 50 || j.Nodes["n7"] != "running" {
			t.Fatalf("committed job %s incomplete: %d nodes, n7=%s", id, len(j.Nodes), j.Nodes["n7"])
		}
	}
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return "", false
}

// writer is the child of TestKillDurability: it writes until killed.
func writer(path string) {
	s, err := Open(path)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	_ = s.CreateOrg(ctx, Org{Name: "o", FullName: "o", GUID: "g"})
	for i := 0; ; i++ {
		id := "job" + strconv.Itoa(i)
		nodes := map[string]string{}
		var ups []NodeStatus
		for n := 0; n < 50; n++ {
			nodes["n"+strconv.Itoa(n)] = "new"
			ups = append(ups, NodeStatus{id, "n" + strconv.Itoa(n), "running", time.Now()})
		}
		if err := s.CreateJob(ctx, Job{ID: id, Org: "o", Status: "voting", CreatedAt: time.Now(), UpdatedAt: time.Now(), Nodes: nodes}); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		if err := s.UpdateNodeStatuses(ctx, ups); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("committed", id)
	}
}

func BenchmarkCreateClients10000(b *testing.B) {
	for i := 0; i < b.N; i++ {
		s := open(b)
		must(b, s.CreateOrg(ctx, Org{Name: "o", FullName: "o", GUID: "g"}))
		cs := make([]ClientWithKey, 10000)
		for n := range cs {
			cs[n] = ClientWithKey{Client: Client{Org: "o", Name: "node-" + strconv.Itoa(n)}, Key: &Key{Name: "default", PublicKeyPEM: "PEM"}}
		}
		b.StartTimer()
		must(b, s.CreateClients(ctx, cs))
		b.StopTimer()
	}
}

func BenchmarkUpdateNodeStatuses9000(b *testing.B) {
	s := open(b)
	must(b, s.CreateOrg(ctx, Org{Name: "o", FullName: "o", GUID: "g"}))
	nodes := map[string]string{}
	var ups []NodeStatus
	for n := 0; n < 9000; n++ {
		nodes["n"+strconv.Itoa(n)] = "new"
		ups = append(ups, NodeStatus{"j", "n" + strconv.Itoa(n), "running", time.Now()})
	}
	must(b, s.CreateJob(ctx, Job{ID: "j", Org: "o", Nodes: nodes}))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		must(b, s.UpdateNodeStatuses(ctx, ups))
	}
}

func BenchmarkCreateJob9000(b *testing.B) {
	s := open(b)
	must(b, s.CreateOrg(ctx, Org{Name: "o", FullName: "o", GUID: "g"}))
	nodes := map[string]string{}
	for n := 0; n < 9000; n++ {
		nodes["node-"+strconv.Itoa(n)] = "new"
	}
	for i := 0; b.Loop(); i++ {
		must(b, s.CreateJob(ctx, Job{ID: "j" + strconv.Itoa(i), Org: "o", Nodes: nodes}))
	}
}
