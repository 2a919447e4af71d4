package fakenodes

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pushlab/pushlab/internal/chefauth"
)

// Registration creates the Chef clients of simulated nodes through the Chef Server API, all with
// one public key. Existing clients are kept (registration is reused across runs), so they must
// already hold that key.
type Registration struct {
	Server    string           // base URL, without /organizations
	Org       string           //
	Signer    *chefauth.Signer // a user (or client) allowed to create clients: an org admin, or pivotal
	PublicKey *rsa.PublicKey   // the nodes' key
	Workers   int              // concurrent requests when clients are created one by one (default 8)
	// Batch is how many names go in one request of the reference server's bulk form
	// {"names": [...], "public_key": PEM} (default 500). A server that refuses the bulk form
	// (any Chef Server) gets one POST per client instead.
	Batch      int
	HTTPClient *http.Client
	// Progress, when set, is told how many names have been handled so far.
	Progress func(done int)
}

// RegisterResult counts what registration did.
type RegisterResult struct {
	Created  int
	Existing int
}

// Register makes sure every named client exists.
func Register(ctx context.Context, r Registration, names []string) (RegisterResult, error) {
	if r.Signer == nil || r.PublicKey == nil {
		return RegisterResult{}, errors.New("registration needs a signer and a public key")
	}
	if r.Workers <= 0 {
		r.Workers = 8
	}
	if r.Batch <= 0 {
		r.Batch = 500
	}
	if r.HTTPClient == nil {
		r.HTTPClient = http.DefaultClient
	}
	pem := string(chefauth.EncodePublicKeyPEM(r.PublicKey))
	var res RegisterResult
	done := 0
	for len(names) > 0 {
		chunk := names[:min(r.Batch, len(names))]
		status, body, err := r.post(ctx, map[string]any{"names": chunk, "public_key": pem})
		if err != nil {
			return res, err
		}
		if status != http.StatusCreated {
			if status == http.StatusBadRequest || status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
				one, err := r.oneByOne(ctx, names, pem, done)
				res.Created += one.Created
				res.Existing += one.Existing
				return res, err
			}
			return res, fmt.Errorf("registering clients: HTTP %d: %s", status, strings.TrimSpace(string(body)))
		}
		var out struct {
			Created  []string `json:"created"`
			Existing []string `json:"existing"`
		}
		if err := json.Unmarshal(body, &out); err != nil {
			return res, fmt.Errorf("registering clients: %v", err)
		}
		res.Created += len(out.Created)
		res.Existing += len(out.Existing)
		done += len(chunk)
		if r.Progress != nil {
			r.Progress(done)
		}
		names = names[len(chunk):]
	}
	return res, nil
}

func (r *Registration) oneByOne(ctx context.Context, names []string, pem string, done int) (RegisterResult, error) {
	var created, existing, count atomic.Int64
	count.Store(int64(done))
	work := make(chan string)
	var wg sync.WaitGroup
	var errOnce sync.Once
	var firstErr error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i := 0; i < r.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range work {
				status, body, err := r.post(ctx, map[string]any{"name": name, "public_key": pem})
				switch {
				case err != nil:
				case status == http.StatusCreated:
					created.Add(1)
				case status == http.StatusConflict:
					existing.Add(1)
				default:
					err = fmt.Errorf("registering client %s: HTTP %d: %s", name, status, strings.TrimSpace(string(body)))
				}
				if err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					continue
				}
				if n := count.Add(1); r.Progress != nil {
					r.Progress(int(n))
				}
			}
		}()
	}
	for _, n := range names[done:] {
		select {
		case work <- n:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	return RegisterResult{Created: int(created.Load()), Existing: int(existing.Load())}, firstErr
}

func (r *Registration) post(ctx context.Context, body any) (int, []byte, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	path := "/organizations/" + r.Org + "/clients"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(r.Server, "/")+path, bytes.NewReader(data))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Chef-Version", chefVersion)
	if err := r.Signer.Sign(req, data); err != nil {
		return 0, nil, err
	}
	resp, err := r.HTTPClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("registering clients: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}
