package api

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/internal/ejson"
	"github.com/pushlab/pushlab/server/jobview"
	"github.com/pushlab/pushlab/server/mutant"
	"github.com/pushlab/pushlab/server/store"
)

// MaxBodySize is the largest POST/PUT body accepted (protocol.md §2.2).
const MaxBodySize = 1000000

// Errors a Directory returns.
var (
	ErrOrgNotFound       = errors.New("organization not found")
	ErrPrincipalNotFound = errors.New("principal not found")
)

// Principal is an authenticated requestor as the Chef server describes it.
type Principal struct {
	Name      string
	Type      string // "user" or "client"
	Keys      []*rsa.PublicKey
	OrgMember bool
}

// Directory answers what the real server asks the Chef server: org GUIDs, principals, groups.
type Directory interface {
	OrgGUID(ctx context.Context, org string) (string, error)
	Principal(ctx context.Context, org, name string) (*Principal, error)
	// IsMember reports membership of group (recursively), and whether the group exists.
	IsMember(ctx context.Context, org, group string, p *Principal) (member, exists bool, err error)
}

// Jobs is the durable job store.
type Jobs interface {
	CreateJob(ctx context.Context, j store.Job) error
	GetJob(ctx context.Context, id string) (*store.Job, error)
	ListJobs(ctx context.Context, org string) ([]store.Job, error)
	GetOutput(ctx context.Context, jobID, node string) (stdout, stderr []byte, err error)
}

// NodeAvailability is one entry of GET /node_states.
type NodeAvailability struct {
	Name      string
	Available bool
}

// Engine runs jobs and knows which nodes are alive.
type Engine interface {
	StartJob(j *store.Job) error
	Job(id string) (*store.Job, bool)
	NodeState(org, node string) (online, available bool)
	NodeStates(org string) []NodeAvailability
	Status() (nodeFSMs int, jobIDs []string)
	// Sync returns once every write the engine queued before the call is durable.
	Sync()
}

// Feeds serves the SSE feeds once the request is authorized.
type Feeds interface {
	ServeJobFeed(w http.ResponseWriter, r *http.Request, org, jobID string)
	ServeOrgFeed(w http.ResponseWriter, r *http.Request, org string)
}

// NodeChannel is the ZeroMQ side's part in the config endpoint.
type NodeChannel interface {
	CurvePublicKey() string
	AdmitClientKey(z85 string) error
}

// SessionKeys hands out the per-(org, node) HMAC key (32 bytes, kept for the server's life).
type SessionKeys interface {
	SessionKey(orgGUID, node string) []byte
}

// Config is what the API needs to know about the server it fronts.
type Config struct {
	ServerName        string // host written into config addresses
	HeartbeatPort     int
	CommandPort       int
	HeartbeatInterval time.Duration
	ConfigLifetime    time.Duration
	MaxMessageSkew    time.Duration
	MaxMessageBody    int
	DefaultRunTimeout time.Duration
	IncarnationID     string
	PublicKeyPEM      string // the server's RSA public key (SPKI PEM), verifies PUB heartbeats
	CurveDisabled     bool
	// ValidateClientNodeName: a client may fetch only its own config (default true in the real server).
	ValidateClientNodeName bool
	Now                    func() time.Time
	Log                    *slog.Logger
	// Mutants are deliberate faults for proving the conformance suite (never set in normal use).
	Mutants mutant.Set
}

// validationMessage is the job validation error as the real server words it.
func (a *API) validationMessage(err error) string {
	if a.cfg.Mutants.Has(mutant.Wrong400Message) {
		return "invalid job: " + err.Error()
	}
	return err.Error()
}

// API is the http.Handler of the Push Jobs REST API.
type API struct {
	cfg   Config
	dir   Directory
	jobs  Jobs
	eng   Engine
	feeds Feeds
	zmq   NodeChannel
	keys  SessionKeys
}

// New returns the REST API handler.
func New(cfg Config, dir Directory, jobs Jobs, eng Engine, feeds Feeds, zmq NodeChannel, keys SessionKeys) *API {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &API{cfg: cfg, dir: dir, jobs: jobs, eng: eng, feeds: feeds, zmq: zmq, keys: keys}
}

// route is a matched Push Jobs resource.
type route struct {
	kind    string // config, jobs, job, output, node_states, node_state, feed, status
	org     string
	node    string
	jobID   string
	channel string
	methods []string
}

func match(path string) (route, bool) {
	p := strings.Trim(path, "/")
	parts := strings.Split(p, "/")
	if len(parts) == 2 && parts[0] == "pushy" && parts[1] == "_status" {
		return route{kind: "status", methods: []string{"GET"}}, true
	}
	if len(parts) < 4 || parts[0] != "organizations" || parts[2] != "pushy" || parts[1] == "" {
		return route{}, false
	}
	r := route{org: parts[1]}
	rest := parts[3:]
	switch {
	case len(rest) == 2 && rest[0] == "config" && rest[1] != "":
		r.kind, r.node, r.methods = "config", rest[1], []string{"GET"}
	case len(rest) == 1 && rest[0] == "jobs":
		r.kind, r.methods = "jobs", []string{"GET", "POST"}
	case len(rest) == 2 && rest[0] == "jobs" && rest[1] != "":
		r.kind, r.jobID, r.methods = "job", rest[1], []string{"GET"}
	case len(rest) == 5 && rest[0] == "jobs" && rest[2] == "output" && (rest[4] == "stdout" || rest[4] == "stderr") && rest[1] != "" && rest[3] != "":
		r.kind, r.jobID, r.node, r.channel, r.methods = "output", rest[1], rest[3], rest[4], []string{"GET"}
	case len(rest) == 1 && rest[0] == "node_states":
		r.kind, r.methods = "node_states", []string{"GET"}
	case len(rest) == 2 && rest[0] == "node_states" && rest[1] != "":
		r.kind, r.node, r.methods = "node_state", rest[1], []string{"GET"}
	case len(rest) == 1 && (rest[0] == "job_status_feed" || rest[0] == "jobs_status_feed"):
		r.kind, r.methods = "feed", []string{"GET"}
	case len(rest) == 2 && (rest[0] == "job_status_feed" || rest[0] == "jobs_status_feed") && rest[1] != "":
		r.kind, r.jobID, r.methods = "feed", rest[1], []string{"GET"}
	default:
		return route{}, false
	}
	return r, true
}

// Handles reports whether path belongs to this API (the rest is the Chef API's).
func Handles(path string) bool {
	_, ok := match(path)
	if ok {
		return true
	}
	p := strings.Trim(path, "/")
	parts := strings.Split(p, "/")
	return (len(parts) >= 3 && parts[0] == "organizations" && parts[2] == "pushy") || (len(parts) >= 1 && parts[0] == "pushy")
}

// request carries what the pipeline learned.
type request struct {
	route
	body      []byte
	principal *Principal
	guid      string
	key       *rsa.PublicKey // the key that verified the signature
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, ok := match(r.URL.Path)
	if !ok {
		notFound(w)
		return
	}
	// 1. Method (decided before any authentication).
	if !contains(rt.methods, r.Method) {
		w.Header().Set("Allow", strings.Join(rt.methods, ", "))
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if rt.kind == "status" {
		a.serveStatus(w, r)
		return
	}
	req := &request{route: rt}
	if !a.malformed(w, r, req) {
		return
	}
	if !a.authorized(w, r, req) {
		return
	}
	if !a.forbidden(w, r, req) {
		return
	}
	switch rt.kind {
	case "config":
		a.serveConfig(w, r, req)
	case "jobs":
		if r.Method == http.MethodPost {
			a.createJob(w, r, req)
		} else {
			a.listJobs(w, r, req)
		}
	case "job":
		a.getJob(w, r, req)
	case "output":
		a.getOutput(w, r, req)
	case "node_states":
		a.nodeStates(w, r, req)
	case "node_state":
		a.nodeState(w, r, req)
	case "feed":
		a.serveFeed(w, r, req)
	}
}

// malformed is webmachine's malformed_request: authentication headers, body size, job body.
func (a *API) malformed(w http.ResponseWriter, r *http.Request, req *request) bool {
	if _, err := chefauth.ParseHeaders(r.Header, a.cfg.Now()); err != nil {
		var ae *chefauth.Error
		if errors.As(err, &ae) {
			writeErrors(w, ae.Status, ae.Message)
			return false
		}
		writeErrors(w, http.StatusBadRequest, err.Error())
		return false
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodySize+1))
		if err != nil {
			writeErrors(w, http.StatusBadRequest, "could not read request body")
			return false
		}
		if len(body) > MaxBodySize {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("JSON must be no more than %d bytes.", MaxBodySize)})
			return false
		}
		req.body = body
	}
	if req.kind == "jobs" && r.Method == http.MethodPost {
		if _, err := ParseJobSpec(req.body); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": a.validationMessage(err)})
			return false
		}
	}
	return true
}

// authorized is is_authorized: ccpk (config only), org, principal, signature, org membership.
func (a *API) authorized(w http.ResponseWriter, r *http.Request, req *request) bool {
	if req.kind == "config" && !a.cfg.CurveDisabled {
		ccpk, ok := r.URL.Query()["ccpk"]
		switch {
		case !ok || len(ccpk) == 0:
			writeErrors(w, http.StatusBadRequest, "Missing ccpk")
			return false
		case len(ccpk[0]) != 40:
			writeErrors(w, http.StatusUnauthorized, "Bad ccpk")
			return false
		}
		// The key is admitted even if authentication then fails, as the real server does.
		if err := a.zmq.AdmitClientKey(ccpk[0]); err != nil {
			writeErrors(w, http.StatusUnauthorized, "Bad ccpk")
			return false
		}
	}
	ctx := r.Context()
	user := r.Header.Get("X-Ops-UserId")
	guid, err := a.dir.OrgGUID(ctx, req.org)
	if errors.Is(err, ErrOrgNotFound) {
		writeErrors(w, http.StatusNotFound, fmt.Sprintf("organization '%s' does not exist.", req.org))
		return false
	} else if err != nil {
		a.cfg.Log.Error("org lookup", "org", req.org, "err", err)
		writeErrors(w, http.StatusBadGateway, "Failed to connect to erchef to get key: "+err.Error())
		return false
	}
	req.guid = guid
	p, err := a.dir.Principal(ctx, req.org, user)
	switch {
	case errors.Is(err, ErrOrgNotFound):
		writeErrors(w, http.StatusNotFound, fmt.Sprintf("organization '%s' does not exist.", req.org))
		return false
	case errors.Is(err, ErrPrincipalNotFound):
		unauthorized(w, fmt.Sprintf("Failed to authenticate as '%s'. Ensure that your node_name and client key are correct.", user))
		return false
	case err != nil:
		a.cfg.Log.Error("principal lookup", "org", req.org, "name", user, "err", err)
		writeErrors(w, http.StatusBadGateway, "Failed to connect to erchef to get key: "+err.Error())
		return false
	}
	if !p.OrgMember {
		writeErrors(w, http.StatusForbidden, fmt.Sprintf("'%s' is not associated with organization '%s'", user, req.org))
		return false
	}
	parsed, err := chefauth.ParseHeaders(r.Header, a.cfg.Now())
	if err != nil { // checked in malformed; the clock may have moved on since
		unauthorized(w, fmt.Sprintf("Invalid signature for user or client '%s'", user))
		return false
	}
	for _, k := range p.Keys {
		if parsed.Verify(r.Method, r.URL.Path, req.body, []*rsa.PublicKey{k}) || a.cfg.Mutants.Has(mutant.BadSignatureAccepted) {
			req.key = k
			break
		}
	}
	if req.key == nil {
		unauthorized(w, fmt.Sprintf("Invalid signature for user or client '%s'", user))
		return false
	}
	req.principal = p
	return true
}

// forbidden applies the group rules of protocol.md §2.3.
func (a *API) forbidden(w http.ResponseWriter, r *http.Request, req *request) bool {
	ctx := r.Context()
	p := req.principal
	deny := func() bool {
		writeErrors(w, http.StatusForbidden, fmt.Sprintf("User or client '%s' does not have access to that action on this server.", p.Name))
		return false
	}
	if req.kind == "config" && p.Type == "client" {
		if a.cfg.ValidateClientNodeName && p.Name != req.node {
			writeErrors(w, http.StatusForbidden, "Client and node name must match")
			return false
		}
		return true
	}
	if req.kind == "jobs" && r.Method == http.MethodPost {
		member, exists, err := a.dir.IsMember(ctx, req.org, "pushy_job_writers", p)
		if err != nil {
			return deny()
		}
		if exists {
			if member {
				return true
			}
			return deny()
		}
		member, exists, err = a.dir.IsMember(ctx, req.org, "admins", p)
		if err != nil || !exists || !member {
			return deny()
		}
		return true
	}
	member, exists, err := a.dir.IsMember(ctx, req.org, "pushy_job_readers", p)
	if err != nil || (exists && !member) {
		return deny()
	}
	return true
}

// accepts reports whether the Accept header admits the media type (no header admits all).
func accepts(r *http.Request, typ string) bool {
	h := r.Header.Values("Accept")
	if len(h) == 0 {
		return true
	}
	major := typ[:strings.Index(typ, "/")]
	for _, line := range h {
		for _, part := range strings.Split(line, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			if q, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(q, 64); err == nil && f == 0 {
					continue
				}
			}
			if mt == "*/*" || mt == typ || mt == major+"/*" {
				return true
			}
		}
	}
	return false
}

// negotiate answers 406 when the client does not accept the resource's only media type.
func negotiate(w http.ResponseWriter, r *http.Request, typ string) bool {
	if accepts(r, typ) {
		return true
	}
	w.WriteHeader(http.StatusNotAcceptable)
	return false
}

func (a *API) serveStatus(w http.ResponseWriter, r *http.Request) {
	if !negotiate(w, r, "application/json") {
		return
	}
	n, ids := a.eng.Status()
	if ids == nil {
		ids = []string{}
	}
	writeJSONOrdered(w, http.StatusOK, []kv{
		{"status", "it's alive"},
		{"incarnation_id", a.cfg.IncarnationID},
		{"node_fsm_count", n},
		{"job_processes", ids},
	})
}

func (a *API) serveConfig(w http.ResponseWriter, r *http.Request, req *request) {
	if !negotiate(w, r, "application/json") {
		return
	}
	sessionKey := a.keys.SessionKey(req.guid, req.node)
	enc, err := rsa.EncryptPKCS1v15(rand.Reader, req.key, sessionKey)
	if err != nil {
		a.cfg.Log.Error("encrypt session key", "err", err)
		writeErrors(w, http.StatusInternalServerError, "internal service error")
		return
	}
	host := a.cfg.ServerName
	interval := a.cfg.HeartbeatInterval.Seconds()
	cfg := []kv{
		{"type", "config"},
		{"host", host},
		{"push_jobs", map[string]any{"heartbeat": object([]kv{
			{"out_addr", fmt.Sprintf("tcp://%s:%d", host, a.cfg.HeartbeatPort)},
			{"command_addr", fmt.Sprintf("tcp://%s:%d", host, a.cfg.CommandPort)},
			{"interval", ejson.Float(interval)},
			{"offline_threshold", 3},
			{"online_threshold", 2},
		})}},
		{"node", req.node},
		{"organization", req.org},
		{"public_key", a.cfg.PublicKeyPEM},
	}
	if !a.cfg.CurveDisabled {
		cfg = append(cfg, kv{"curve_public_key", a.zmq.CurvePublicKey()})
	}
	cfg = append(cfg,
		kv{"encoded_session_key", object([]kv{{"method", "hmac_sha256"}, {"key", base64.StdEncoding.EncodeToString(enc)}})},
		kv{"lifetime", int64(a.cfg.ConfigLifetime / time.Second)},
		kv{"max_message_skew", int64(a.cfg.MaxMessageSkew / time.Second)},
		kv{"max_body_size", a.cfg.MaxMessageBody},
		kv{"incarnation_id", a.cfg.IncarnationID},
	)
	writeJSONOrdered(w, http.StatusOK, cfg)
}

func (a *API) createJob(w http.ResponseWriter, r *http.Request, req *request) {
	if !negotiate(w, r, "application/json") {
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		w.WriteHeader(http.StatusUnsupportedMediaType)
		return
	}
	spec, err := ParseJobSpec(req.body)
	if err != nil { // validated in malformed
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": a.validationMessage(err)})
		return
	}
	now := a.cfg.Now().UTC().Truncate(time.Second)
	job := store.Job{
		ID:            NewJobID(req.guid),
		Org:           req.org,
		Command:       spec.Command,
		Status:        "new",
		RunTimeout:    int64(a.cfg.DefaultRunTimeout / time.Second),
		Quorum:        len(spec.Nodes),
		Requestor:     req.principal.Name,
		User:          spec.User,
		Dir:           spec.Dir,
		Env:           spec.Env,
		File:          spec.File,
		CaptureOutput: spec.CaptureOutput,
		CreatedAt:     now,
		UpdatedAt:     now,
		Nodes:         make(map[string]string, len(spec.Nodes)),
	}
	if spec.RunTimeout != nil {
		job.RunTimeout = *spec.RunTimeout
	}
	if spec.Quorum != nil {
		job.Quorum = *spec.Quorum
	}
	for _, n := range spec.Nodes {
		job.Nodes[n] = "new"
	}
	if err := a.jobs.CreateJob(r.Context(), job); err != nil {
		a.cfg.Log.Error("create job", "err", err)
		writeErrors(w, http.StatusInternalServerError, "internal service error")
		return
	}
	if err := a.eng.StartJob(&job); err != nil {
		a.cfg.Log.Error("start job", "job", job.ID, "err", err)
		writeErrors(w, http.StatusInternalServerError, "internal service error")
		return
	}
	uri := baseURI(r) + "/organizations/" + req.org + "/pushy/jobs/" + job.ID
	w.Header().Set("Location", uri)
	writeJSONOrdered(w, http.StatusCreated, []kv{{"uri", uri}, {"id", job.ID}})
}

func (a *API) listJobs(w http.ResponseWriter, r *http.Request, req *request) {
	if !negotiate(w, r, "application/json") {
		return
	}
	jobs, err := a.jobs.ListJobs(r.Context(), req.org)
	if err != nil {
		a.cfg.Log.Error("list jobs", "err", err)
		writeErrors(w, http.StatusInternalServerError, "internal service error")
		return
	}
	for i := range jobs {
		if live, ok := a.eng.Job(jobs[i].ID); ok {
			jobs[i] = *live
		}
	}
	writeRaw(w, http.StatusOK, "application/json", jobview.RenderList(jobs))
}

// lookupJob finds a job of this org, live or stored.
func (a *API) lookupJob(ctx context.Context, org, id string) (*store.Job, error) {
	if j, ok := a.eng.Job(id); ok {
		if j.Org != org {
			return nil, store.ErrNotFound
		}
		return j, nil
	}
	j, err := a.jobs.GetJob(ctx, id)
	if err != nil {
		return nil, err
	}
	if j.Org != org {
		return nil, store.ErrNotFound
	}
	return j, nil
}

func (a *API) getJob(w http.ResponseWriter, r *http.Request, req *request) {
	if !negotiate(w, r, "application/json") {
		return
	}
	j, err := a.lookupJob(r.Context(), req.org, req.jobID)
	if errors.Is(err, store.ErrNotFound) {
		notFound(w)
		return
	} else if err != nil {
		a.cfg.Log.Error("get job", "err", err)
		writeErrors(w, http.StatusInternalServerError, "internal service error")
		return
	}
	includeFile := r.URL.Query().Get("include_file") == "true"
	writeRaw(w, http.StatusOK, "application/json", jobview.Render(j, includeFile, true))
}

func (a *API) getOutput(w http.ResponseWriter, r *http.Request, req *request) {
	if !negotiate(w, r, "application/octet-stream") {
		return
	}
	if _, err := a.lookupJob(r.Context(), req.org, req.jobID); err != nil {
		notFound(w)
		return
	}
	stdout, stderr, err := a.jobs.GetOutput(r.Context(), req.jobID, req.node)
	if errors.Is(err, store.ErrNotFound) {
		if _, live := a.eng.Job(req.jobID); live {
			// The engine may hold the output still on its way to the store: a client that saw
			// the node finish must read it.
			a.eng.Sync()
			stdout, stderr, err = a.jobs.GetOutput(r.Context(), req.jobID, req.node)
		}
	}
	if err != nil {
		notFound(w)
		return
	}
	out := stdout
	if req.channel == "stderr" {
		out = stderr
	}
	if a.cfg.Mutants.Has(mutant.OutputTruncated) && len(out) > 0 {
		out = out[:len(out)-1]
	}
	writeRaw(w, http.StatusOK, "application/octet-stream", out)
}

func (a *API) nodeStates(w http.ResponseWriter, r *http.Request, req *request) {
	if !negotiate(w, r, "application/json") {
		return
	}
	var b bytes.Buffer
	b.WriteByte('[')
	for i, n := range a.eng.NodeStates(req.org) {
		if i > 0 {
			b.WriteByte(',')
		}
		object([]kv{{"node_name", n.Name}, {"availability", availability(n.Available)}}).AppendTo(&b)
	}
	b.WriteByte(']')
	writeRaw(w, http.StatusOK, "application/json", b.Bytes())
}

func (a *API) nodeState(w http.ResponseWriter, r *http.Request, req *request) {
	if !negotiate(w, r, "application/json") {
		return
	}
	online, available := a.eng.NodeState(req.org, req.node)
	status := "offline"
	if online {
		status = "online"
	}
	writeJSONOrdered(w, http.StatusOK, []kv{{"node_name", req.node}, {"status", status}, {"availability", availability(available)}})
}

func (a *API) serveFeed(w http.ResponseWriter, r *http.Request, req *request) {
	if !negotiate(w, r, "text/event-stream") {
		return
	}
	if req.jobID == "" {
		a.feeds.ServeOrgFeed(w, r, req.org)
		return
	}
	if _, err := a.lookupJob(r.Context(), req.org, req.jobID); err != nil {
		notFound(w)
		return
	}
	a.feeds.ServeJobFeed(w, r, req.org, req.jobID)
}

func availability(ok bool) string {
	if ok {
		return "available"
	}
	return "unavailable"
}

// NewJobID makes a job id as the real server does: the last 12 hex digits of the org GUID and 20
// hex digits of an MD5 over the GUID and random bytes (protocol.md §2.4).
func NewJobID(orgGUID string) string {
	prefix := orgGUID
	if len(prefix) > 12 {
		prefix = prefix[len(prefix)-12:]
	}
	for len(prefix) < 12 {
		prefix = "0" + prefix
	}
	var rnd [38]byte
	_, _ = rand.Read(rnd[:])
	h := md5.New()
	h.Write([]byte(orgGUID))
	h.Write(rnd[:])
	return strings.ToLower(prefix) + hex.EncodeToString(h.Sum(nil))[:20]
}

// baseURI is scheme://host[:port] as the client addressed us (X-Forwarded-Proto wins).
func baseURI(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
		scheme = p
	}
	host := r.Host
	if h, port, ok := strings.Cut(host, ":"); ok && (port == "80" || port == "443") {
		host = h
	}
	return scheme + "://" + host
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
