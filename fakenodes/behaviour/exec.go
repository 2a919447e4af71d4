package behaviour

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// TypeExec is the name of the exec behaviour.
const TypeExec = "exec"

func init() {
	Register(TypeExec, func() Behaviour { return &Exec{FileDir: "/tmp/pushy"} })
}

// execTimeout is the real client's hard-coded command timeout.
const execTimeout = 86400 * time.Second

// Exec runs whitelisted commands for real, as the real client does (protocol.md §7.2): the
// commit is refused unless the command is in the whitelist, the user exists, the dir exists and
// the file has a raw: or base64: prefix; the command line runs through /bin/sh as that user, in
// that dir, with the job's env (renamed CHEF_PUSH_ENV_<key> when AllowedEnv is set and the key
// is not in it), CHEF_PUSH_NODE_NAME, CHEF_PUSH_JOB_ID and CHEF_PUSH_JOB_FILE (the job's file,
// written to FileDir/pushy_file<random>). As with the real client, an abort does not kill the
// process; its result is then ignored.
type Exec struct {
	// Whitelist maps a job command to the command line run for it.
	Whitelist map[string]string `yaml:"whitelist"`
	// FileDir receives job files (default /tmp/pushy, the library default of the real client).
	FileDir string `yaml:"file_dir"`
	// AllowedEnv is allowed_overwritable_env_vars; empty keeps job env keys as they are.
	AllowedEnv []string `yaml:"allowed_overwritable_env_vars"`
}

func (b *Exec) Validate() error {
	var errs []error
	if len(b.Whitelist) == 0 {
		errs = append(errs, errors.New("whitelist is empty"))
	}
	for k, v := range b.Whitelist {
		if strings.TrimSpace(v) == "" {
			errs = append(errs, fmt.Errorf("whitelist entry %q has no command line", k))
		}
	}
	if b.FileDir == "" {
		errs = append(errs, errors.New("file_dir is empty"))
	}
	return errors.Join(errs...)
}

// Check is the commit-time check of the real client: whitelist, user, dir and file prefix.
func (b *Exec) Check(c *Commit) error {
	if _, ok := b.Whitelist[c.Command]; !ok {
		return fmt.Errorf("command %q is not in the whitelist", c.Command)
	}
	if c.User != "" {
		if _, err := user.Lookup(c.User); err != nil {
			return fmt.Errorf("user %q does not exist", c.User)
		}
	}
	if c.Dir != "" {
		if st, err := os.Stat(c.Dir); err != nil || !st.IsDir() {
			return fmt.Errorf("dir %q does not exist", c.Dir)
		}
	}
	if c.File != "" && !strings.HasPrefix(c.File, "raw:") && !strings.HasPrefix(c.File, "base64:") {
		return errors.New("file has neither a raw: nor a base64: prefix")
	}
	return nil
}

func (b *Exec) HandleCommit(n Node, c *Commit) bool {
	if st, _ := n.Job(); st != Idle {
		return false // busy: the standard runner nacks
	}
	n.Fired(TypeExec)
	if err := b.Check(c); err != nil {
		n.NackCommit(c.JobID)
		return true
	}
	n.AckCommit(c)
	return true
}

func (b *Exec) ShapeOutcome(_ Node, _ *Commit, o *Outcome) {
	o.Run = b.Execute
}

// Execute runs the job's command and waits for it.
func (b *Exec) Execute(ctx context.Context, job Job) Result {
	line, ok := b.Whitelist[job.Commit.Command]
	if !ok {
		return Result{Err: fmt.Errorf("command %q is not in the whitelist", job.Commit.Command)}
	}
	env := map[string]string{}
	for k, v := range job.Commit.Env {
		if len(b.AllowedEnv) > 0 && !slices.Contains(b.AllowedEnv, k) {
			k = "CHEF_PUSH_ENV_" + k
		}
		env[k] = v
	}
	if job.Commit.File != "" {
		path, err := b.writeFile(job.Commit.File)
		if err != nil {
			return Result{Err: err}
		}
		env["CHEF_PUSH_JOB_FILE"] = path
	}
	env["CHEF_PUSH_NODE_NAME"] = job.Node
	env["CHEF_PUSH_JOB_ID"] = job.JobID

	ctx, cancel := context.WithTimeout(ctx, execTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", line)
	cmd.Dir = job.Commit.Dir
	cmd.Env = mergeEnv(os.Environ(), map[string]string{"LC_ALL": "C", "LANGUAGE": "C", "LANG": "C"}, env)
	if job.Commit.User != "" {
		cred, err := credential(job.Commit.User)
		if err != nil {
			return Result{Err: err}
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return Result{Stdout: stdout.String(), Stderr: stderr.String()}
	case errors.As(err, &exitErr):
		status := exitErr.ExitCode()
		if status < 0 {
			status = 128 + int(exitSignal(exitErr))
		}
		return Result{ExitStatus: status, Stdout: stdout.String(), Stderr: stderr.String()}
	default:
		return Result{Err: err}
	}
}

func exitSignal(e *exec.ExitError) syscall.Signal {
	if ws, ok := e.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ws.Signal()
	}
	return 0
}

// writeFile writes a job file (raw: or base64:) to FileDir/pushy_file<random>.
func (b *Exec) writeFile(file string) (string, error) {
	if err := os.MkdirAll(b.FileDir, 0o755); err != nil {
		return "", err
	}
	kind, data, _ := strings.Cut(file, ":")
	var content []byte
	switch kind {
	case "raw":
		content = []byte(data)
	case "base64":
		clean := strings.Map(func(r rune) rune {
			if strings.ContainsRune(" \t\r\n", r) {
				return -1
			}
			return r
		}, data)
		var err error
		if content, err = base64.StdEncoding.DecodeString(clean); err != nil {
			content, _ = base64.RawStdEncoding.DecodeString(strings.TrimRight(clean, "="))
		}
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	path := filepath.Join(b.FileDir, "pushy_file"+hex.EncodeToString(rnd[:]))
	return path, os.WriteFile(path, content, 0o644)
}

func credential(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user %q has a non-numeric uid or gid", name)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// mergeEnv applies overrides, in order, to an environment list.
func mergeEnv(base []string, overrides ...map[string]string) []string {
	idx := map[string]int{}
	out := make([]string, 0, len(base))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		idx[k] = len(out)
		out = append(out, kv)
	}
	for _, o := range overrides {
		keys := make([]string, 0, len(o))
		for k := range o {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			kv := k + "=" + o[k]
			if i, ok := idx[k]; ok {
				out[i] = kv
			} else {
				idx[k] = len(out)
				out = append(out, kv)
			}
		}
	}
	return out
}
