package framework

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/pushlab/pushlab/server/mutant"
)

// FlagPrefix prefixes every flag of the suite on a Go flag set.
const FlagPrefix = "conformance."

// Profiles name the two readings of the protocol where the real server and its public docs
// disagree (protocol.md §11).
const (
	ProfilePushy30 = "pushy-3.0"
	ProfileDocs    = "docs"
)

// Config selects the target and shapes a run. The zero value (after RegisterFlags defaults)
// runs against an in-process reference server with fast timings.
type Config struct {
	// URL is the REST base URL of the server under test; empty starts the in-process reference
	// server. Image starts that container image instead (testcontainers-go).
	URL   string
	Image string
	// Org, User and KeyPath name the organization and a user allowed to start jobs.
	Org     string
	User    string
	KeyPath string
	// SuperuserKeyPath signs Chef API calls that create node clients, users and groups (the
	// superuser is SuperuserName). ClientKeysDir holds pre-registered node clients instead,
	// one NAME.pem per client.
	SuperuserName    string
	SuperuserKeyPath string
	ClientKeysDir    string

	Profile   string // pushy-3.0 (default) or docs
	Strict    bool   // a documented deviation fails instead of giving a non-strict verdict
	ReportDir string // JUnit, JSON and the summary go here when set

	// What the suite cannot learn from the target's config endpoint (protocol.md §12); the
	// in-process target fills them from its own configuration.
	VotingTimeout     time.Duration
	WaitCompleteTime  time.Duration
	OrgFeedExpiration time.Duration
	KeepAlive         time.Duration

	// LoadNodes is how many nodes the load and chaos specs use.
	LoadNodes int

	// Mutants are deliberate faults (server/mutant) the in-process reference server starts
	// with, to prove the suite catches them.
	Mutants []string

	ListTests  bool
	ListLabels bool

	// FlagName spells a setting's flag in messages (nil: -conformance.NAME).
	FlagName func(name string) string
}

func (c *Config) flag(name string) string {
	if c.FlagName != nil {
		return c.FlagName(name)
	}
	return "-" + FlagPrefix + name
}

// DefaultConfig is a run against the in-process reference server.
func DefaultConfig() Config {
	return Config{
		User:              "admin",
		SuperuserName:     "pivotal",
		Profile:           ProfilePushy30,
		VotingTimeout:     60 * time.Second,
		WaitCompleteTime:  5 * time.Second,
		OrgFeedExpiration: 60 * time.Second,
		KeepAlive:         15 * time.Second,
		LoadNodes:         200,
	}
}

// RegisterFlags puts every setting on fs as -conformance.NAME, with c's values as defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	p := FlagPrefix
	fs.StringVar(&c.URL, p+"url", c.URL, "REST base URL of the server under test (default: an in-process reference server)")
	fs.StringVar(&c.Image, p+"image", c.Image, "container image of a pushlab-compatible server to start and test")
	fs.StringVar(&c.Org, p+"org", c.Org, "organization of the server under test")
	fs.StringVar(&c.User, p+"user", c.User, "user allowed to start jobs (an org admin)")
	fs.StringVar(&c.KeyPath, p+"key", c.KeyPath, "private key (PEM) of -"+p+"user")
	fs.StringVar(&c.SuperuserName, p+"superuser", c.SuperuserName, "name of the Chef superuser")
	fs.StringVar(&c.SuperuserKeyPath, p+"superuser-key", c.SuperuserKeyPath, "superuser private key: register node clients, users and groups through the Chef API")
	fs.StringVar(&c.ClientKeysDir, p+"client-keys-dir", c.ClientKeysDir, "directory of pre-registered node client keys NAME.pem (instead of -"+p+"superuser-key)")
	fs.StringVar(&c.Profile, p+"profile", c.Profile, "pushy-3.0 (the real server) or docs (the public documentation)")
	fs.BoolVar(&c.Strict, p+"strict", c.Strict, "fail on documented deviations instead of giving a non-strict verdict")
	fs.StringVar(&c.ReportDir, p+"report-dir", c.ReportDir, "write JUnit, JSON and a summary here")
	fs.DurationVar(&c.VotingTimeout, p+"voting-timeout", c.VotingTimeout, "the target's voting timeout")
	fs.DurationVar(&c.WaitCompleteTime, p+"wait-complete-time", c.WaitCompleteTime, "how long the target keeps a finished job's full feed")
	fs.DurationVar(&c.OrgFeedExpiration, p+"org-feed-expiration", c.OrgFeedExpiration, "how long the target keeps org feed events")
	fs.DurationVar(&c.KeepAlive, p+"keepalive", c.KeepAlive, "how long a feed of the target stays silent before a keepalive comment")
	fs.IntVar(&c.LoadNodes, p+"load-nodes", c.LoadNodes, "nodes of the load and chaos specs")
	fs.Func(p+"mutants", "comma-separated deliberate faults of the in-process reference server (server/mutant)", func(v string) error {
		c.Mutants = nil
		for _, m := range strings.Split(v, ",") {
			if m = strings.TrimSpace(m); m != "" {
				c.Mutants = append(c.Mutants, m)
			}
		}
		return nil
	})
	fs.BoolVar(&c.ListTests, p+"list-tests", c.ListTests, "list every spec and exit")
	fs.BoolVar(&c.ListLabels, p+"list-labels", c.ListLabels, "list the label registry and exit")
}

// InProcess reports whether the run starts its own reference server.
func (c *Config) InProcess() bool { return c.URL == "" && c.Image == "" }

// Validate reports every problem at once, before any spec runs.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	f := c.flag
	if c.URL != "" && c.Image != "" {
		bad("%s and %s exclude each other", f("url"), f("image"))
	}
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("%s %q is not an http(s) URL", f("url"), c.URL)
		} else if strings.Trim(u.Path, "/") != "" {
			bad("%s %q must be the server's base URL, without a path", f("url"), c.URL)
		}
		if c.Org == "" {
			bad("%s is required with %s", f("org"), f("url"))
		}
		if c.User == "" || c.KeyPath == "" {
			bad("%s and %s are required with %s", f("user"), f("key"), f("url"))
		}
		if c.SuperuserKeyPath == "" && c.ClientKeysDir == "" {
			bad("%s needs %s or %s to obtain node clients", f("url"), f("superuser-key"), f("client-keys-dir"))
		}
	} else if c.KeyPath != "" || c.SuperuserKeyPath != "" || c.ClientKeysDir != "" || c.Org != "" {
		bad("%s, %s, %s and %s need %s", f("org"), f("key"), f("superuser-key"), f("client-keys-dir"), f("url"))
	}
	for _, k := range []struct{ name, path string }{{"key", c.KeyPath}, {"superuser-key", c.SuperuserKeyPath}} {
		if k.path == "" {
			continue
		}
		if st, err := os.Stat(k.path); err != nil || st.IsDir() {
			bad("%s %q is not a readable file", f(k.name), k.path)
		}
	}
	if c.ClientKeysDir != "" {
		if st, err := os.Stat(c.ClientKeysDir); err != nil || !st.IsDir() {
			bad("%s %q is not a directory", f("client-keys-dir"), c.ClientKeysDir)
		}
	}
	if c.Profile != ProfilePushy30 && c.Profile != ProfileDocs {
		bad("%s %q: want %s or %s", f("profile"), c.Profile, ProfilePushy30, ProfileDocs)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"voting-timeout", c.VotingTimeout}, {"wait-complete-time", c.WaitCompleteTime}, {"org-feed-expiration", c.OrgFeedExpiration}, {"keepalive", c.KeepAlive}} {
		if d.v <= 0 {
			bad("%s must be positive, got %s", f(d.name), d.v)
		}
	}
	if _, err := mutant.Parse(c.Mutants); err != nil {
		bad("%v", err)
	}
	if len(c.Mutants) > 0 && !c.InProcess() {
		bad("%s apply to the in-process reference server only", f("mutants"))
	}
	if c.LoadNodes < 10 {
		bad("%s must be at least 10, got %d", f("load-nodes"), c.LoadNodes)
	}
	return errors.Join(errs...)
}
