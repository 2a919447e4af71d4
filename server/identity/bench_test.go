package identity_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/server/identity"
)

// benchEnv has 1,000 clients and pushy_job_readers → nested → users and clients, the lookups
// every Push Jobs request makes.
func benchEnv(b *testing.B) *env {
	e := newEnv(b)
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprintf("node-%04d", i)
	}
	if err := e.dir.RegisterClients(ctx, testOrg, names, &testKeys[0].PublicKey); err != nil {
		b.Fatal(err)
	}
	e.setGroup("nested_readers", []string{"admin"}, names[:500], nil)
	e.setGroup("pushy_job_readers", nil, nil, []string{"nested_readers"})
	return e
}

func BenchmarkPrincipal(b *testing.B) {
	e := benchEnv(b)
	for i := 0; b.Loop(); i++ {
		if _, err := e.dir.Principal(ctx, testOrg, fmt.Sprintf("node-%04d", i%1000)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIsMemberNested(b *testing.B) {
	e := benchEnv(b)
	p := &identity.Principal{Name: "node-0250", Type: identity.TypeClient}
	for b.Loop() {
		if m, _, err := e.dir.IsMember(ctx, testOrg, "pushy_job_readers", p); err != nil || !m {
			b.Fatal(m, err)
		}
	}
}

// BenchmarkPrincipalAndIsMemberParallel is one Push Jobs request's directory work: the
// principal, then the readers group check.
func BenchmarkPrincipalAndIsMemberParallel(b *testing.B) {
	e := benchEnv(b)
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			name := fmt.Sprintf("node-%04d", n.Add(1)%1000)
			p, err := e.dir.Principal(ctx, testOrg, name)
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := e.dir.IsMember(ctx, testOrg, "pushy_job_readers", p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCreateClient is the server's side of one POST /organizations/ORG/clients with a
// shared public key (how a simulated fleet registers), signing excluded.
func BenchmarkCreateClient(b *testing.B) {
	e := newEnv(b)
	h := e.dir.Handler()
	pem := pubPEM(testKeys[0])
	s := &chefauth.Signer{UserID: "pivotal", Key: e.pivotal.key, Now: e.clock.Now}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		body := jsonString(map[string]string{"name": fmt.Sprintf("node-%06d", i), "public_key": pem})
		r := httptest.NewRequest("POST", e.orgPath("/clients"), strings.NewReader(body))
		if err := s.Sign(r, []byte(body)); err != nil {
			b.Fatal(err)
		}
		w := httptest.NewRecorder()
		b.StartTimer()
		h.ServeHTTP(w, r)
		if w.Code != 201 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}
