package framework

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
	zmq "github.com/pebbe/zmq4"

	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/internal/pushyclient"
	"github.com/pushlab/pushlab/server"
)

// Suite is the state of one run: the target, its timings and the identities and nodes the
// specs use. Specs reach it through S().
type Suite struct {
	Config  Config
	Target  Target
	Timings Timings
	// RunID makes the names this run creates unique, so runs against one server do not meet.
	RunID string
	// API is a REST client signed as the target's user.
	API *pushyclient.Client

	http *http.Client

	idOnce sync.Once
	ids    map[Role]Requestor
	idErr  error

	nodes *nodePool

	fixtureMu  sync.Mutex
	offlineJob string
	offlineErr string

	stalls *stallMonitor
	fleets fleetWatch
}

var (
	setupMu   sync.Mutex
	pending   = DefaultConfig()
	tune      func(*server.Config)
	current   *Suite
	preTarget Target
)

// Configure sets what the next Setup uses: the configuration and, for the in-process target,
// a change to the reference server's configuration (nil for none).
func Configure(c Config, tuneServer func(*server.Config)) {
	setupMu.Lock()
	defer setupMu.Unlock()
	pending, tune = c, tuneServer
}

// UseTarget makes the next Setup use t instead of building a target from the configuration.
func UseTarget(t Target) {
	setupMu.Lock()
	defer setupMu.Unlock()
	preTarget = t
}

// S is the running suite; it panics outside a run.
func S() *Suite {
	if current == nil {
		panic("conformance: no suite is set up (specs run only through the suite)")
	}
	return current
}

// Setup starts or reaches the target, learns its timings and makes the suite current.
func Setup(ctx context.Context) error {
	setupMu.Lock()
	cfg, tuneServer, given := pending, tune, preTarget
	setupMu.Unlock()
	if err := cfg.Validate(); err != nil {
		return err
	}
	var target Target
	var err error
	switch {
	case given != nil:
		target = given
	case cfg.URL != "":
		target, err = NewRemote(cfg)
	case cfg.Image != "":
		target, err = StartContainer(ctx, cfg.Image)
	default:
		sc := FastConfig("")
		sc.Mutants = append(sc.Mutants, cfg.Mutants...)
		if tuneServer != nil {
			tuneServer(&sc)
		}
		target, err = StartReference(ctx, sc)
	}
	if err != nil {
		return err
	}
	s := &Suite{Config: cfg, Target: target, RunID: randomHex(3),
		http: &http.Client{Timeout: 60 * time.Second}}
	s.API = pushyclient.New(target.URL(), target.Org(), &chefauth.Signer{UserID: target.User().Name, Key: target.User().Key})
	s.API.HTTP = &http.Client{}
	release := func() {
		if given == nil {
			target.Close()
		}
	}
	s.nodes, err = newNodePool(s)
	if err != nil {
		release()
		return err
	}
	hb, err := s.probeHeartbeat(ctx)
	if err != nil {
		release()
		return fmt.Errorf("reading the target's heartbeat interval from its config endpoint: %w", err)
	}
	s.Timings = NewTimings(hb, target.Settings())
	s.Timings.apply()
	s.stalls = newStallMonitor(20 * time.Millisecond)
	current = s
	return nil
}

// Teardown closes the target (an in-process or container server stops).
func Teardown() error {
	if current == nil {
		return nil
	}
	s := current
	current = nil
	s.stalls.close()
	setupMu.Lock()
	given := preTarget
	setupMu.Unlock()
	if given != nil {
		return nil // the caller owns it
	}
	return s.Target.Close()
}

// probeHeartbeat fetches a node config as the user and returns push_jobs.heartbeat.interval.
func (s *Suite) probeHeartbeat(ctx context.Context) (time.Duration, error) {
	pub, _, err := zmq.NewCurveKeypair()
	if err != nil {
		return 0, err
	}
	r, err := s.do(ctx, s.Target.User(), "GET", s.Pushy("config/conformance-probe-"+s.RunID)+"?ccpk="+url.QueryEscape(pub), "", nil)
	if err != nil {
		return 0, err
	}
	if r.Status != http.StatusOK {
		return 0, fmt.Errorf("GET config: %d %s", r.Status, r.Body)
	}
	var c struct {
		PushJobs struct {
			Heartbeat struct {
				Interval float64 `json:"interval"`
			} `json:"heartbeat"`
		} `json:"push_jobs"`
	}
	if err := json.Unmarshal(r.Body, &c); err != nil {
		return 0, err
	}
	if c.PushJobs.Heartbeat.Interval <= 0 {
		return 0, errors.New("no positive push_jobs.heartbeat.interval in the config")
	}
	return time.Duration(c.PushJobs.Heartbeat.Interval * float64(time.Second)), nil
}

// Pushy is the absolute path of a Push Jobs resource of the target's org: Pushy("jobs") is
// /organizations/ORG/pushy/jobs.
func (s *Suite) Pushy(p string) string { return "/organizations/" + s.Target.Org() + "/pushy/" + p }

// Name returns a name unique to this run: PREFIX-RUNID-N.
func (s *Suite) Name(prefix string) string {
	return fmt.Sprintf("%s-%s-%d", prefix, s.RunID, nextSeq())
}

var (
	seqMu sync.Mutex
	seq   int
)

func nextSeq() int {
	seqMu.Lock()
	defer seqMu.Unlock()
	seq++
	return seq
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Response is an HTTP answer, body read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r Response) String() string { return fmt.Sprintf("%d %s", r.Status, r.Body) }

// do sends a request signed by who (a zero Requestor sends it unsigned) and applies mutate to
// the headers after signing.
func (s *Suite) do(ctx context.Context, who Requestor, method, path, body string, mutate func(http.Header)) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.Target.URL()+path, stringsReader(body))
	if err != nil {
		return Response{}, err
	}
	req.Header.Set("Accept", acceptFor(path))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Chef-Version", pushyclient.ChefVersion)
	if who.Key != nil {
		if err := (&chefauth.Signer{UserID: who.Name, Key: who.Key, Version: "1.1"}).Sign(req, []byte(body)); err != nil {
			return Response{}, err
		}
	}
	if mutate != nil {
		mutate(req.Header)
	}
	return s.send(req)
}

func (s *Suite) send(req *http.Request) (Response, error) {
	resp, err := s.http.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, err
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// RestartTarget restarts the server under test; the spec is skipped when the target cannot be
// restarted (a URL target).
func (s *Suite) RestartTarget() {
	ginkgo.GinkgoHelper()
	r, ok := s.Target.(Restarter)
	if !ok {
		ginkgo.Skip("the target cannot be restarted (disruptive specs need the in-process or container target)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*s.Timings.Fleet)
	defer cancel()
	gomega.Expect(r.Restart(ctx)).To(gomega.Succeed(), "restarting the target")
	s.API.HTTP.CloseIdleConnections()
	s.http.CloseIdleConnections()
}
