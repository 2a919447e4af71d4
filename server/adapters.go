package server

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/pushlab/pushlab/server/api"
	"github.com/pushlab/pushlab/server/broker"
	"github.com/pushlab/pushlab/server/engine"
	"github.com/pushlab/pushlab/server/identity"
	"github.com/pushlab/pushlab/server/mutant"
	"github.com/pushlab/pushlab/server/store"
)

// directoryAdapter presents the identity service as the REST API's Directory.
type directoryAdapter struct{ d *identity.Directory }

func (a directoryAdapter) OrgGUID(ctx context.Context, org string) (string, error) {
	g, err := a.d.OrgGUID(ctx, org)
	if errors.Is(err, identity.ErrOrgNotFound) {
		return "", api.ErrOrgNotFound
	}
	return g, err
}

func (a directoryAdapter) Principal(ctx context.Context, org, name string) (*api.Principal, error) {
	p, err := a.d.Principal(ctx, org, name)
	switch {
	case errors.Is(err, identity.ErrOrgNotFound):
		return nil, api.ErrOrgNotFound
	case errors.Is(err, identity.ErrPrincipalNotFound):
		return nil, api.ErrPrincipalNotFound
	case err != nil:
		return nil, err
	}
	return &api.Principal{Name: p.Name, Type: p.Type, Keys: p.Keys, OrgMember: p.OrgMember}, nil
}

func (a directoryAdapter) IsMember(ctx context.Context, org, group string, p *api.Principal) (bool, bool, error) {
	return a.d.IsMember(ctx, org, group, &identity.Principal{Name: p.Name, Type: p.Type, OrgMember: p.OrgMember})
}

// engineAdapter presents the engine as the REST API's Engine. commitDelay (the slow-commit
// mutant) holds each job back before the engine sends its commits.
type engineAdapter struct {
	e           *engine.Engine
	commitDelay time.Duration
}

func (a engineAdapter) StartJob(j *store.Job) error {
	if a.commitDelay > 0 {
		time.Sleep(a.commitDelay)
	}
	return a.e.StartJob(j)
}

func (a engineAdapter) Job(id string) (*store.Job, bool)        { return a.e.Job(id) }
func (a engineAdapter) NodeState(org, node string) (bool, bool) { return a.e.NodeState(org, node) }
func (a engineAdapter) Status() (int, []string)                 { return a.e.Status() }
func (a engineAdapter) Sync()                                   { a.e.Sync() }
func (a engineAdapter) NodeStates(org string) []api.NodeAvailability {
	states := a.e.NodeStates(org)
	out := make([]api.NodeAvailability, len(states))
	for i, s := range states {
		out[i] = api.NodeAvailability{Name: s.Node, Available: s.Available}
	}
	return out
}

// engineHandler hands verified ZeroMQ messages to the engine.
type engineHandler struct{ eng *engine.Engine }

func (h *engineHandler) HandleNode(in broker.Inbound) {
	h.eng.NodeMessage(nodeMsg(in))
}

// brokerRelay lets the engine send before the broker exists (the broker needs the engine as its
// handler, the engine needs the broker as its sender).
type brokerRelay struct {
	mu     sync.RWMutex
	b      *broker.Broker
	server string // the server name commits carry
	log    *slog.Logger
}

func (r *brokerRelay) set(b *broker.Broker) {
	r.mu.Lock()
	r.b = b
	r.mu.Unlock()
}

func (r *brokerRelay) Send(org, node string, m engine.Outbound) {
	r.mu.RLock()
	b := r.b
	r.mu.RUnlock()
	if b == nil {
		return
	}
	if err := b.Send(org, node, int64(m.Sequence), outboundMessage(m, r.server)); err != nil && r.log != nil {
		r.log.Debug("send to node", "org", org, "node", node, "type", m.Type, "err", err)
	}
}

// brokerKeys resolves the org name of a node message to the session key handed out with config.
type brokerKeys struct {
	sessions *sessionKeys
	dir      *identity.Directory
	mu       sync.Mutex
	guids    map[string]string
}

func (k *brokerKeys) SessionKey(org, node string) ([]byte, bool) {
	k.mu.Lock()
	guid, ok := k.guids[org]
	k.mu.Unlock()
	if !ok {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		g, err := k.dir.OrgGUID(ctx, org)
		if err != nil {
			return nil, false
		}
		guid = g
		k.mu.Lock()
		k.guids[org] = g
		k.mu.Unlock()
	}
	return k.sessions.existing(guid, node)
}

// persister writes the engine's changes to the store.
type persister struct {
	st  *store.Store
	log *slog.Logger
}

func (p *persister) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

func (p *persister) JobStatus(id, status string, at time.Time) error {
	ctx, cancel := p.ctx()
	defer cancel()
	return p.st.UpdateJobStatus(ctx, id, status, at)
}

func (p *persister) NodeStatuses(updates []store.NodeStatus) error {
	ctx, cancel := p.ctx()
	defer cancel()
	return p.st.UpdateNodeStatuses(ctx, updates)
}

func (p *persister) Output(jobID, node string, stdout, stderr []byte) error {
	ctx, cancel := p.ctx()
	defer cancel()
	return p.st.PutOutput(ctx, jobID, node, stdout, stderr)
}

// commitDelay is how long each job waits before its commits go out: SlowCommitDelay with the
// slow-commit mutant, else nothing.
func commitDelay(m mutant.Set) time.Duration {
	if m.Has(mutant.SlowCommit) {
		return mutant.SlowCommitDelay
	}
	return 0
}
