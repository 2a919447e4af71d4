package framework

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"github.com/pushlab/pushlab/internal/chefauth"
)

// Role is one requestor of the original pushy suite (protocol.md §8.1).
type Role string

// The requestors. Admin is the target's user (an org admin); the others are created through the
// Chef API by the superuser the first time a spec needs them, with names unique to the run.
const (
	Admin        Role = "admin user"
	NormalUser   Role = "normal user"
	OutsideUser  Role = "outside user"
	InvalidUser  Role = "invalid user"
	AdminClient  Role = "admin client"
	NormalClient Role = "non-admin client"
	BadClient    Role = "bogus client"
	Superuser    Role = "superuser"
)

// Who returns the requestor playing role; a run without a superuser skips the spec for every
// role but Admin.
func (s *Suite) Who(role Role) Requestor {
	ginkgo.GinkgoHelper()
	if role == Admin {
		return s.Target.User()
	}
	s.RequireSuperuser()
	s.idOnce.Do(func() { s.ids, s.idErr = s.createIdentities() })
	gomega.Expect(s.idErr).NotTo(gomega.HaveOccurred(), "creating the requestors of the suite")
	return s.ids[role]
}

// RequireSuperuser skips the spec when the run has no superuser key.
func (s *Suite) RequireSuperuser() {
	if _, ok := s.Target.Superuser(); !ok {
		ginkgo.Skip("needs -" + FlagPrefix + "superuser-key to create users, clients and groups")
	}
}

func (s *Suite) superuser() Requestor {
	su, _ := s.Target.Superuser()
	return su
}

func (s *Suite) createIdentities() (map[Role]Requestor, error) {
	ids := map[Role]Requestor{Admin: s.Target.User(), Superuser: s.superuser()}
	bogus, err := chefauth.GenerateKey()
	if err != nil {
		return nil, err
	}
	base := "cf-" + s.RunID
	ids[InvalidUser] = Requestor{base + "-invalid", bogus}
	ids[BadClient] = Requestor{base + "-bad-client", bogus}
	for _, u := range []struct {
		role      Role
		name      string
		associate bool
	}{{NormalUser, base + "-user", true}, {OutsideUser, base + "-nobody", false}} {
		r, err := s.createUser(u.name, u.associate)
		if err != nil {
			return nil, err
		}
		ids[u.role] = r
	}
	for role, name := range map[Role]string{AdminClient: base + "-admin-client", NormalClient: base + "-client"} {
		r, err := s.createClient(name)
		if err != nil {
			return nil, err
		}
		ids[role] = r
	}
	return ids, nil
}

func (s *Suite) createUser(name string, associate bool) (Requestor, error) {
	key, err := chefauth.GenerateKey()
	if err != nil {
		return Requestor{}, err
	}
	body, _ := json.Marshal(map[string]string{"username": name, "email": name + "@example.com", "first_name": name,
		"last_name": name, "display_name": name, "password": "conformance-" + s.RunID, "public_key": string(chefauth.EncodePublicKeyPEM(&key.PublicKey))})
	if err := s.expectChef("POST", "/users", string(body), http.StatusCreated); err != nil {
		return Requestor{}, err
	}
	if associate {
		if err := s.expectChef("POST", "/organizations/"+s.Target.Org()+"/users", fmt.Sprintf(`{"username":%q}`, name), http.StatusCreated); err != nil {
			return Requestor{}, err
		}
	}
	return Requestor{name, key}, nil
}

func (s *Suite) createClient(name string) (Requestor, error) {
	key, err := chefauth.GenerateKey()
	if err != nil {
		return Requestor{}, err
	}
	body, _ := json.Marshal(map[string]string{"name": name, "public_key": string(chefauth.EncodePublicKeyPEM(&key.PublicKey))})
	if err := s.expectChef("POST", "/organizations/"+s.Target.Org()+"/clients", string(body), http.StatusCreated); err != nil {
		return Requestor{}, err
	}
	return Requestor{name, key}, nil
}

// expectChef sends a Chef API request as the superuser and checks its status.
func (s *Suite) expectChef(method, path, body string, status int) error {
	ctx := context.Background()
	r, err := s.do(ctx, s.superuser(), method, path, body, nil)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if r.Status != status {
		return fmt.Errorf("%s %s: %s, want %d", method, path, r, status)
	}
	return nil
}

// SetupGroup creates an org group with these members, as the original suite's setup_group does,
// and deletes it when the current spec or container ends.
func (s *Suite) SetupGroup(name string, users, clients, groups []string) {
	ginkgo.GinkgoHelper()
	s.RequireSuperuser()
	gomega.Expect(s.CreateGroup(name, users, clients, groups)).To(gomega.Succeed())
	ginkgo.DeferCleanup(func() { gomega.Expect(s.DeleteGroup(name)).To(gomega.Succeed()) })
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// CreateGroup creates an org group with these members through the Chef API (as the superuser).
func (s *Suite) CreateGroup(name string, users, clients, groups []string) error {
	org := "/organizations/" + s.Target.Org()
	if err := s.expectChef("POST", org+"/groups", fmt.Sprintf(`{"groupname":%q}`, name), http.StatusCreated); err != nil {
		return err
	}
	b, _ := json.Marshal(map[string]any{"groupname": name, "actors": map[string]any{"users": nonNil(users), "clients": nonNil(clients), "groups": nonNil(groups)}})
	return s.expectChef("PUT", org+"/groups/"+name, string(b), http.StatusOK)
}

// DeleteGroup deletes an org group.
func (s *Suite) DeleteGroup(name string) error {
	return s.expectChef("DELETE", "/organizations/"+s.Target.Org()+"/groups/"+name, "", http.StatusOK)
}
