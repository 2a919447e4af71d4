package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/pushlab/pushlab/internal/pushyclient"
)

// Exit statuses of the job and node commands, as knife-push's: 1 for a job that did not
// fully succeed and for usage errors, 100 when a request fails (knife's exit status for an
// unhandled API error).
const (
	exitJobFailed = 1
	exitAPIError  = 100
)

// outputFlags choose how a command prints server objects.
type outputFlags struct {
	format string
}

func (o *outputFlags) register(fl *pflag.FlagSet) {
	fl.StringVarP(&o.format, "format", "F", "summary", "output format: summary (knife's text layout) or json")
}

func (o *outputFlags) validate() error {
	switch o.format {
	case "summary", "text", "json":
		return nil
	}
	return fmt.Errorf("--format must be summary or json, not %q", o.format)
}

// print writes one JSON document (raw as the server sent it) in the chosen format.
func (o *outputFlags) print(w io.Writer, raw []byte) error {
	if o.format == "json" {
		var b bytes.Buffer
		if err := json.Indent(&b, raw, "", "  "); err != nil {
			return err
		}
		b.WriteByte('\n')
		_, err := w.Write(b.Bytes())
		return err
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return err
	}
	s := knifeText(v)
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	_, err := io.WriteString(w, s)
	return err
}

// apiError gives a failed request knife's exit status.
func apiError(err error) error {
	if err == nil {
		return nil
	}
	var ec exitCoder
	if errors.As(err, &ec) {
		return err
	}
	return &exitError{code: exitAPIError, msg: err.Error()}
}

func newJobCommand() *cobra.Command {
	conn := &connFlags{}
	out := &outputFlags{}
	cmd := &cobra.Command{
		Use:   "job",
		Short: "Start and inspect Push Jobs jobs, like knife job",
		Long: `Start and inspect jobs on any Push Jobs server, with knife-push's requests, output and
exit statuses: 1 when a started job did not fully succeed (or on a usage error), 100 when a
request fails.`,
	}
	conn.register(cmd.PersistentFlags())
	out.register(cmd.PersistentFlags())
	cmd.AddCommand(newJobStartCommand(conn, out), newJobListCommand(conn, out),
		newJobStatusCommand(conn, out), newJobOutputCommand(conn))
	return cmd
}

type jobStartFlags struct {
	timeout      int
	timeoutSet   bool // --timeout was given, even as 0
	quorum       string
	search       string
	file         string
	capture      bool
	withEnv      string
	asUser       string
	inDir        string
	nowait       bool
	poll         bool
	pollInterval time.Duration
}

func newJobStartCommand(conn *connFlags, out *outputFlags) *cobra.Command {
	f := &jobStartFlags{}
	cmd := &cobra.Command{
		Use:   "start COMMAND [NODE ...]",
		Short: "Start a job on nodes and wait for it, like knife job start",
		Long: `Start a job and wait until it finishes, as knife job start does.

It prints "Started.  Job ID: ID", then a line each time the job's state changes (Voting.,
Running (x/y in progress) ..., then the final status), then the job. It follows the job's
SSE feed and reads the job when events arrive (at most once per --poll-interval, and at
once on job_complete); with --poll, or when the server has no feed, it polls every
--poll-interval and prints a dot per poll, exactly as knife does.

Exit status: 0 only if the job is complete and every node is succeeded, nacked or
unavailable; 1 otherwise (knife-push's rule: quorum_failed, timed_out, or any node failed,
crashed, was_ready or timed_out); 0 at once with --nowait.

The request carries what knife-push 2.x sends: quorum (default 100%, N% is ceil(N/100 x
nodes)), capture_output, env (an empty object unless --with-env), and when given run_timeout,
file (raw:CONTENTS, or base64: when the file is not UTF-8), dir and user. If the server
answers 400, the job is retried without the 2.x fields (Push Jobs 1.x mode), which fails if
--with-env, --file, --in-dir or --as-user was given.`,
		Example: `  pushlab job start chef-client web1 web2 --quorum 50%
  pushlab job start 'echo hi' web1 --capture --nowait`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runJobStart(cmd, conn, out, f, args) },
	}
	fl := cmd.Flags()
	fl.IntVar(&f.timeout, "timeout", 0, "maximum time the job may run, in seconds (run_timeout; unset: the server's default)")
	fl.StringVarP(&f.quorum, "quorum", "q", "100%", "quorum: a node count (3) or a percentage of the nodes (50%)")
	fl.StringVarP(&f.search, "search", "s", "", "Chef node search query choosing the nodes instead of NODE arguments")
	fl.StringVar(&f.file, "file", "", "file to send to the nodes with the job")
	fl.BoolVar(&f.capture, "capture", false, "capture the command's output")
	fl.StringVar(&f.withEnv, "with-env", "", `environment of the command, a JSON object ('{"K":"V"}')`)
	fl.StringVar(&f.asUser, "as-user", "", "user to run the command as")
	fl.StringVar(&f.inDir, "in-dir", "", "directory to run the command in")
	fl.BoolVarP(&f.nowait, "nowait", "b", false, "exit after starting the job, without waiting for it")
	fl.BoolVar(&f.poll, "poll", false, "poll the job like knife instead of following its feed")
	fl.DurationVar(&f.pollInterval, "poll-interval", time.Second, "time between job reads")
	return cmd
}

var quorumRE = regexp.MustCompile(`^(\d+)(%?)$`)

// parseQuorum turns knife's --quorum value, a count ("3") or a percentage of nodes ("50%",
// rounded up), into a node count.
func parseQuorum(s string, nodes int) (int, error) {
	m := quorumRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("invalid --quorum %q: want an integer or a percentage (50%%)", s)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return 0, fmt.Errorf("invalid --quorum %q: %w", s, err)
	}
	if m[2] == "%" {
		return int(math.Ceil(float64(n) / 100 * float64(nodes))), nil
	}
	return n, nil
}

// buildJobRequest assembles knife-push 2.x's job request from the flags.
func buildJobRequest(f *jobStartFlags, command string, nodes []string) (pushyclient.JobRequest, error) {
	q, err := parseQuorum(f.quorum, len(nodes))
	if err != nil {
		return pushyclient.JobRequest{}, err
	}
	capture := f.capture
	req := pushyclient.JobRequest{Command: command, Nodes: nodes, Quorum: &q, CaptureOutput: &capture,
		Env: map[string]string{}, Dir: f.inDir, User: f.asUser}
	if f.timeoutSet || f.timeout != 0 {
		t := f.timeout
		req.RunTimeout = &t
	}
	if f.withEnv != "" {
		if err := json.Unmarshal([]byte(f.withEnv), &req.Env); err != nil {
			return req, fmt.Errorf("--with-env: want a JSON object of strings: %w", err)
		}
	}
	if f.file != "" {
		b, err := os.ReadFile(f.file)
		if err != nil {
			return req, fmt.Errorf("--file: %w", err)
		}
		if utf8.Valid(b) {
			req.File = "raw:" + string(b)
		} else {
			req.File = "base64:" + base64.StdEncoding.EncodeToString(b)
		}
	}
	return req, nil
}

// v1Request is req without the Push Jobs 2.x fields, or an error naming a 2.x feature that
// was asked for.
func v1Request(req pushyclient.JobRequest) (pushyclient.JobRequest, error) {
	switch {
	case len(req.Env) > 0:
		return req, errors.New("sending environment variables (--with-env) is not possible with Push Jobs 1.x")
	case req.File != "":
		return req, errors.New("can't use a 2.x feature (--file) with a 1.x server")
	case req.Dir != "":
		return req, errors.New("can't use a 2.x feature (--in-dir) with a 1.x server")
	case req.User != "":
		return req, errors.New("can't use a 2.x feature (--as-user) with a 1.x server")
	}
	return pushyclient.JobRequest{Command: req.Command, Nodes: req.Nodes, Quorum: req.Quorum, RunTimeout: req.RunTimeout}, nil
}

func runJobStart(cmd *cobra.Command, conn *connFlags, out *outputFlags, f *jobStartFlags, args []string) error {
	if err := out.validate(); err != nil {
		return err
	}
	f.timeoutSet = cmd.Flags().Changed("timeout")
	if f.pollInterval <= 0 {
		return errors.New("--poll-interval must be positive")
	}
	c, err := conn.client()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	nodes := args[1:]
	if f.search != "" {
		if nodes, err = c.SearchNodes(ctx, f.search); err != nil {
			return apiError(fmt.Errorf("node search failed: %w", err))
		}
	}
	if len(nodes) == 0 {
		return errors.New("no nodes to run the job on: give nodes as arguments or a --search query")
	}
	req, err := buildJobRequest(f, args[0], nodes)
	if err != nil {
		return err
	}
	started, err := c.StartJob(ctx, req)
	if pushyclient.StatusCode(err) == 400 {
		fmt.Fprintf(stderr, "WARNING: Falling back to Push Jobs v1 mode (%v).\n", err)
		v1, verr := v1Request(req)
		if verr != nil {
			return verr
		}
		started, err = c.StartJob(ctx, v1)
	}
	if err != nil {
		return apiError(err)
	}
	fmt.Fprintf(stdout, "Started.  Job ID: %s\n", started.ID)
	if f.nowait {
		return nil
	}
	w := &jobWaiter{c: c, uri: started.URI, id: started.ID, interval: f.pollInterval, out: stdout}
	var job *pushyclient.Job
	if f.poll {
		job, err = w.poll(ctx)
	} else {
		job, err = w.follow(ctx)
	}
	if err != nil {
		return apiError(err)
	}
	if err := out.print(stdout, job.Raw); err != nil {
		return err
	}
	if code := jobExitStatus(job); code != 0 {
		return &exitError{code: code}
	}
	return nil
}

// jobState is knife-push's progress line for a job and whether the job has finished:
// "Initialized." (new), "Voting.", "Running (x/y in progress) ..." or the capitalised final
// status. As in knife-push, x counts the statuses new, voting and running present among the
// nodes (not nodes), and y counts the nodes.
func jobState(j *pushyclient.Job) (bool, string) {
	switch j.Status {
	case "new":
		return false, "Initialized."
	case "voting":
		return false, "Voting."
	}
	total, inProgress := 0, 0
	for st, names := range j.Nodes {
		total += len(names)
		switch st {
		case "new", "voting", "running":
			inProgress++
		}
	}
	if j.Status == "running" {
		return false, fmt.Sprintf("Running (%d/%d in progress) ...", inProgress, total)
	}
	return true, capitalize(j.Status) + "."
}

// capitalize is Ruby's String#capitalize for ASCII statuses.
func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + strings.ToLower(s[1:])
}

// jobExitStatus is knife-push's exit status for a finished job: 0 if it is complete and every
// node status is succeeded, nacked or unavailable, 1 otherwise.
func jobExitStatus(j *pushyclient.Job) int {
	if j.Status != "complete" {
		return exitJobFailed
	}
	for st := range j.Nodes {
		switch st {
		case "succeeded", "nacked", "unavailable":
		default:
			return exitJobFailed
		}
	}
	return 0
}

// jobWaiter waits for a started job to finish, printing knife's progress lines.
type jobWaiter struct {
	c        *pushyclient.Client
	uri, id  string
	interval time.Duration
	out      io.Writer
	prev     string
}

// check reads the job and prints its state line when it changed.
func (w *jobWaiter) check(ctx context.Context) (*pushyclient.Job, bool, error) {
	var job *pushyclient.Job
	var err error
	if w.uri != "" {
		job, err = w.c.JobURI(ctx, w.uri)
	} else {
		job, err = w.c.Job(ctx, w.id)
	}
	if err != nil {
		return nil, false, err
	}
	finished, state := jobState(job)
	if w.prev == "" {
		w.prev = "Initialized."
	}
	if state != w.prev {
		fmt.Fprintln(w.out, state)
		w.prev = state
	}
	return job, finished, nil
}

// poll is knife-push's loop: wait an interval, print a dot, read the job, until it finished.
func (w *jobWaiter) poll(ctx context.Context) (*pushyclient.Job, error) {
	t := time.NewTimer(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
		fmt.Fprint(w.out, ".")
		job, finished, err := w.check(ctx)
		if err != nil {
			return nil, err
		}
		if finished {
			return job, nil
		}
		t.Reset(w.interval)
	}
}

// follow reads the job when its feed has news: at once for the first event and for
// job_complete or summary, otherwise at most once per interval. When the feed cannot be
// opened or ends before the job has finished, it polls.
func (w *jobWaiter) follow(ctx context.Context) (*pushyclient.Job, error) {
	feed, err := w.c.JobFeed(ctx, w.id, "")
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return w.poll(ctx)
	}
	defer feed.Close()
	events := feed.Events()
	var last time.Time
	dirty := false
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		now := false
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case ev, ok := <-events:
			if !ok {
				job, finished, err := w.check(ctx)
				if err != nil {
					return nil, err
				}
				if finished {
					return job, nil
				}
				return w.poll(ctx)
			}
			switch ev.Name {
			case "job_complete", "summary":
				now = true
			default:
				if !dirty {
					dirty = true
					wait := w.interval - time.Since(last)
					if wait <= 0 {
						now = true
					} else {
						timer.Reset(wait)
					}
				}
			}
		case <-timer.C:
			now = dirty
		}
		if !now {
			continue
		}
		timer.Stop()
		dirty = false
		last = time.Now()
		job, finished, err := w.check(ctx)
		if err != nil {
			return nil, err
		}
		if finished {
			return job, nil
		}
	}
}

func newJobListCommand(conn *connFlags, out *outputFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List every job of the organization, like knife job list",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			c, err := conn.client()
			if err != nil {
				return err
			}
			jobs, err := c.Jobs(cmd.Context())
			if err != nil {
				return apiError(err)
			}
			raws := make([]json.RawMessage, len(jobs))
			for i := range jobs {
				raws[i] = jobs[i].Raw
			}
			b, err := json.Marshal(raws)
			if err != nil {
				return err
			}
			return out.print(cmd.OutOrStdout(), b)
		},
	}
}

func newJobStatusCommand(conn *connFlags, out *outputFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "status JOB_ID",
		Short: "Show a job and its nodes' statuses, like knife job status",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			c, err := conn.client()
			if err != nil {
				return err
			}
			job, err := c.Job(cmd.Context(), args[0])
			if err != nil {
				return apiError(err)
			}
			return out.print(cmd.OutOrStdout(), job.Raw)
		},
	}
}

func newJobOutputCommand(conn *connFlags) *cobra.Command {
	var channel string
	cmd := &cobra.Command{
		Use:   "output JOB_ID NODE",
		Short: "Print a node's captured output of a job, like knife job output",
		Long: `Print a node's captured stdout or stderr of a job byte for byte (knife job output adds a
newline after it). The server has output only for jobs started with --capture, or when the
node sent both channels.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if channel != "stdout" && channel != "stderr" {
				return fmt.Errorf("--channel must be stdout or stderr, not %q", channel)
			}
			c, err := conn.client()
			if err != nil {
				return err
			}
			b, err := c.Output(cmd.Context(), args[0], args[1], channel)
			if err != nil {
				return apiError(err)
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	cmd.Flags().StringVar(&channel, "channel", "stdout", "output channel: stdout or stderr")
	return cmd
}

// knifeText renders decoded JSON as knife's summary (text) presenter does: object keys
// sorted, each "key:" padded to the longest key plus one, then a space and the value; a
// one-element array of a scalar shown as that scalar; nested objects and arrays on their
// own lines indented by two spaces; array elements one per line, objects and arrays among
// them separated by a blank line.
func knifeText(v any) string {
	var b strings.Builder
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		width := 0
		for k := range t {
			keys = append(keys, k)
			width = max(width, utf8.RuneCountInString(k))
		}
		width++
		sort.Strings(keys)
		for _, k := range keys {
			val := t[k]
			if a, ok := val.([]any); ok && len(a) == 1 && isScalar(a[0]) {
				val = a[0]
			}
			if isScalar(val) {
				label := k + ":"
				b.WriteString(label)
				b.WriteString(strings.Repeat(" ", max(0, width-utf8.RuneCountInString(label))))
				b.WriteString(" ")
				b.WriteString(scalarText(val))
				b.WriteString("\n")
				continue
			}
			b.WriteString(k + ":\n")
			lines := strings.Split(knifeText(val), "\n")
			for len(lines) > 0 && lines[len(lines)-1] == "" {
				lines = lines[:len(lines)-1] // Ruby's split drops trailing empty fields
			}
			for _, line := range lines {
				b.WriteString("  " + line + "\n")
			}
		}
	case []any:
		for i, e := range t {
			b.WriteString(knifeText(e))
			if !isScalar(e) && i != len(t)-1 {
				b.WriteString("\n")
			}
		}
	default:
		b.WriteString(scalarText(v) + "\n")
	}
	return b.String()
}

func isScalar(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return false
	}
	return true
}

// scalarText is Ruby's string interpolation of a JSON scalar: nil is empty.
func scalarText(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case bool:
		return strconv.FormatBool(t)
	case json.Number:
		return t.String()
	}
	return fmt.Sprint(v)
}
