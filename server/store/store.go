package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver, "sqlite"
)

// Errors returned by the store.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
)

// Store is the database. Writes go through one connection (SQLite serialises them anyway);
// reads use a pool.
//
// Durability: WAL journal with synchronous=NORMAL. A transaction is in the WAL file when Commit
// returns, so a killed process loses nothing (only a power loss could drop the last commits,
// which synchronous=FULL would add an fsync per commit to prevent).
type Store struct {
	w *sql.DB // single writer
	r *sql.DB // readers
}

const schemaVersion = 1

var schema = []string{
	`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS orgs (name TEXT PRIMARY KEY, full_name TEXT NOT NULL, guid TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, email TEXT NOT NULL, display_name TEXT NOT NULL, first_name TEXT NOT NULL, last_name TEXT NOT NULL, middle_name TEXT NOT NULL, created_at INTEGER NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS clients (org TEXT NOT NULL REFERENCES orgs(name) ON DELETE CASCADE, name TEXT NOT NULL, validator INTEGER NOT NULL, PRIMARY KEY (org, name))`,
	// keys: org = '' for a user's keys.
	`CREATE TABLE IF NOT EXISTS keys (kind TEXT NOT NULL, org TEXT NOT NULL, owner TEXT NOT NULL, name TEXT NOT NULL, public_key TEXT NOT NULL, expires INTEGER NOT NULL, PRIMARY KEY (kind, org, owner, name))`,
	`CREATE TABLE IF NOT EXISTS org_users (org TEXT NOT NULL REFERENCES orgs(name) ON DELETE CASCADE, user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE, PRIMARY KEY (org, user))`,
	`CREATE TABLE IF NOT EXISTS groups (org TEXT NOT NULL REFERENCES orgs(name) ON DELETE CASCADE, name TEXT NOT NULL, PRIMARY KEY (org, name))`,
	`CREATE TABLE IF NOT EXISTS group_members (org TEXT NOT NULL, grp TEXT NOT NULL, kind TEXT NOT NULL, member TEXT NOT NULL, PRIMARY KEY (org, grp, kind, member), FOREIGN KEY (org, grp) REFERENCES groups(org, name) ON DELETE CASCADE ON UPDATE CASCADE)`,
	`CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, org TEXT NOT NULL REFERENCES orgs(name) ON DELETE CASCADE, command TEXT NOT NULL, status TEXT NOT NULL, run_timeout INTEGER NOT NULL, quorum INTEGER NOT NULL, requestor TEXT NOT NULL, user TEXT, dir TEXT, env TEXT, file TEXT NOT NULL, capture INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS jobs_org ON jobs(org)`,
	`CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status)`,
	`CREATE TABLE IF NOT EXISTS job_nodes (job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE, node TEXT NOT NULL, status TEXT NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (job_id, node))`,
	`CREATE TABLE IF NOT EXISTS job_output (job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE, node TEXT NOT NULL, stdout BLOB NOT NULL, stderr BLOB NOT NULL, PRIMARY KEY (job_id, node))`,
	`CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value BLOB NOT NULL)`,
}

// Open opens (creating when missing) the database at path.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)"
	// The writer keeps up to 64 MB of pages cached (SQLite's default is 2 MB): updating the
	// statuses of a 9,000-node job touches pages all over job_nodes, and re-reading them from
	// the file costs more than the updates.
	w, err := sql.Open("sqlite", dsn+"&_pragma=cache_size(-65536)")
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite", dsn)
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(8)
	s := &Store{w: w, r: r}
	if err := s.migrate(); err != nil {
		s.Close()
		return nil, fmt.Errorf("migrating %s: %w", path, err)
	}
	return s, nil
}

func (s *Store) migrate() error {
	for _, q := range schema {
		if _, err := s.w.Exec(q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	var v int
	err := s.w.QueryRow(`SELECT CAST(value AS INTEGER) FROM meta WHERE key='schema_version'`).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = s.w.Exec(`INSERT INTO meta(key, value) VALUES('schema_version', ?)`, schemaVersion)
		return err
	case err != nil:
		return err
	case v > schemaVersion:
		return fmt.Errorf("database schema version %d is newer than this pushlab (%d)", v, schemaVersion)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

// IntegrityCheck runs SQLite's integrity check.
func (s *Store) IntegrityCheck(ctx context.Context) error {
	var res string
	if err := s.r.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&res); err != nil {
		return err
	}
	if res != "ok" {
		return errors.New(res)
	}
	return nil
}

func (s *Store) tx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func isUnique(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "UNIQUE constraint") || strings.Contains(err.Error(), "PRIMARY KEY"))
}

func ts(t time.Time) int64 { return t.UTC().UnixNano() }
func fromTS(n int64) time.Time {
	return time.Unix(0, n).UTC()
}

func affected(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// ---- settings ----

// GetSetting returns a server setting, ErrNotFound when unset.
func (s *Store) GetSetting(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.r.QueryRowContext(ctx, `SELECT value FROM settings WHERE key=?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return v, err
}

// PutSetting stores a server setting.
func (s *Store) PutSetting(ctx context.Context, key string, value []byte) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO settings(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value`, key, value)
	return err
}

// ---- jobs ----

// Job is a job and, from GetJob, its nodes' statuses.
type Job struct {
	ID, Org, Command, Status string
	RunTimeout               int64
	Quorum                   int
	Requestor                string
	User, Dir                *string
	Env                      map[string]string // nil = absent
	File                     string            // "" = none
	CaptureOutput            bool
	CreatedAt, UpdatedAt     time.Time
	Nodes                    map[string]string // node -> status
}

// Clone returns a deep copy.
func (j *Job) Clone() *Job {
	c := *j
	if j.Env != nil {
		c.Env = make(map[string]string, len(j.Env))
		for k, v := range j.Env {
			c.Env[k] = v
		}
	}
	if j.Nodes != nil {
		c.Nodes = make(map[string]string, len(j.Nodes))
		for k, v := range j.Nodes {
			c.Nodes[k] = v
		}
	}
	return &c
}

// NodeStatus is one change of a node's status in a job.
type NodeStatus struct {
	JobID, Node, Status string
	At                  time.Time
}

// CreateJob inserts the job and one row per node (with the node's status in j.Nodes) in one transaction.
func (s *Store) CreateJob(ctx context.Context, j Job) error {
	var env sql.NullString
	if j.Env != nil {
		b, _ := json.Marshal(j.Env)
		env = sql.NullString{String: string(b), Valid: true}
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO jobs(id, org, command, status, run_timeout, quorum, requestor, user, dir, env, file, capture, created_at, updated_at) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			j.ID, j.Org, j.Command, j.Status, j.RunTimeout, j.Quorum, j.Requestor, nullable(j.User), nullable(j.Dir), env, j.File, j.CaptureOutput, ts(j.CreatedAt), ts(j.UpdatedAt))
		if isUnique(err) {
			return ErrExists
		} else if err != nil {
			return err
		}
		names := make([]string, 0, len(j.Nodes))
		for n := range j.Nodes {
			names = append(names, n)
		}
		sort.Strings(names)
		created := ts(j.CreatedAt)
		return inBatches(ctx, tx, `INSERT INTO job_nodes(job_id, node, status, updated_at) VALUES`, "(?,?,?,?)", len(names),
			func(args []any, i int) []any { return append(args, j.ID, names[i], j.Nodes[names[i]], created) })
	})
}

// rowsPerStatement is how many rows one multi-row statement carries (4 parameters each, well
// under SQLite's limit of 32,766): one statement per row costs more in database/sql than in
// SQLite.
const rowsPerStatement = 250

// inBatches runs prefix followed by n row placeholders, rowsPerStatement rows at a time; row
// appends the arguments of row i.
func inBatches(ctx context.Context, tx *sql.Tx, prefix, placeholder string, n int, row func(args []any, i int) []any) error {
	var full *sql.Stmt
	args := make([]any, 0, rowsPerStatement*4)
	for start := 0; start < n; start += rowsPerStatement {
		count := min(rowsPerStatement, n-start)
		args = args[:0]
		for i := start; i < start+count; i++ {
			args = row(args, i)
		}
		query := prefix + strings.Repeat(placeholder+",", count-1) + placeholder
		if count < rowsPerStatement {
			if _, err := tx.ExecContext(ctx, query, args...); err != nil {
				return err
			}
			continue
		}
		if full == nil {
			var err error
			if full, err = tx.PrepareContext(ctx, query); err != nil {
				return err
			}
			defer full.Close()
		}
		if _, err := full.ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

func nullable(p *string) sql.NullString {
	if p == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: *p, Valid: true}
}

const jobColumns = `id, org, command, status, run_timeout, quorum, requestor, user, dir, env, file, capture, created_at, updated_at`

type scanner interface{ Scan(...any) error }

func scanJob(row scanner) (*Job, error) {
	var j Job
	var user, dir, env sql.NullString
	var created, updated int64
	if err := row.Scan(&j.ID, &j.Org, &j.Command, &j.Status, &j.RunTimeout, &j.Quorum, &j.Requestor, &user, &dir, &env, &j.File, &j.CaptureOutput, &created, &updated); err != nil {
		return nil, err
	}
	if user.Valid {
		j.User = &user.String
	}
	if dir.Valid {
		j.Dir = &dir.String
	}
	if env.Valid {
		if err := json.Unmarshal([]byte(env.String), &j.Env); err != nil {
			return nil, err
		}
	}
	j.CreatedAt, j.UpdatedAt = fromTS(created), fromTS(updated)
	return &j, nil
}

// GetJob returns a job with its nodes.
func (s *Store) GetJob(ctx context.Context, id string) (*Job, error) {
	j, err := scanJob(s.r.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id=?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT node, status FROM job_nodes WHERE job_id=?`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	j.Nodes = map[string]string{}
	for rows.Next() {
		var n, st string
		if err := rows.Scan(&n, &st); err != nil {
			return nil, err
		}
		j.Nodes[n] = st
	}
	return j, rows.Err()
}

// ListJobs returns the org's jobs (without nodes), oldest first.
func (s *Store) ListJobs(ctx context.Context, org string) ([]Job, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE org=? ORDER BY created_at, id`, org)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *j)
	}
	return out, rows.Err()
}

// UpdateJobStatus sets a job's status and updated_at.
func (s *Store) UpdateJobStatus(ctx context.Context, id, status string, at time.Time) error {
	return affected(s.w.ExecContext(ctx, `UPDATE jobs SET status=?, updated_at=? WHERE id=?`, status, ts(at), id))
}

// UpdateNodeStatuses applies many node status changes in one transaction.
func (s *Store) UpdateNodeStatuses(ctx context.Context, updates []NodeStatus) error {
	if len(updates) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE job_nodes SET status=?, updated_at=? WHERE job_id=? AND node=?`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, u := range updates {
			if _, err := stmt.ExecContext(ctx, u.Status, ts(u.At), u.JobID, u.Node); err != nil {
				return err
			}
		}
		return nil
	})
}

// PutOutput stores a node's captured output for a job.
func (s *Store) PutOutput(ctx context.Context, jobID, node string, stdout, stderr []byte) error {
	if stdout == nil {
		stdout = []byte{}
	}
	if stderr == nil {
		stderr = []byte{}
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO job_output(job_id, node, stdout, stderr) VALUES(?,?,?,?) ON CONFLICT(job_id, node) DO UPDATE SET stdout=excluded.stdout, stderr=excluded.stderr`, jobID, node, stdout, stderr)
	return err
}

// GetOutput returns a node's captured output, ErrNotFound when there is none.
func (s *Store) GetOutput(ctx context.Context, jobID, node string) (stdout, stderr []byte, err error) {
	err = s.r.QueryRowContext(ctx, `SELECT stdout, stderr FROM job_output WHERE job_id=? AND node=?`, jobID, node).Scan(&stdout, &stderr)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, ErrNotFound
	}
	if stdout == nil {
		stdout = []byte{}
	}
	if stderr == nil {
		stderr = []byte{}
	}
	return stdout, stderr, err
}

// CrashUnfinished marks every new/voting/running job crashed and their running nodes crashed
// (protocol.md §5.1: what the real server does at start-up). It returns how many jobs changed.
func (s *Store) CrashUnfinished(ctx context.Context, at time.Time) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE job_nodes SET status='crashed', updated_at=? WHERE status='running' AND job_id IN (SELECT id FROM jobs WHERE status IN ('new','voting','running'))`, ts(at)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET status='crashed', updated_at=? WHERE status IN ('new','voting','running')`, ts(at))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
