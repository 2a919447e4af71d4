package identity_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/go-chef/chef"

	"github.com/pushlab/pushlab/internal/chefauth"
)

func goChef(t *testing.T, e *env, who actor, base, authVersion string) *chef.Client {
	t.Helper()
	c, err := chef.NewClient(&chef.Config{
		Name:                  who.name,
		Key:                   string(chefauth.EncodePrivateKeyPEM(who.key)),
		BaseURL:               e.srv.URL + base,
		AuthenticationVersion: authVersion,
		Timeout:               20,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestGoChefInterop drives the Chef API with the go-chef client library (API version 1, both
// of its signing protocols).
func TestGoChefInterop(t *testing.T) {
	for _, v := range []string{chef.AuthVersion10, chef.AuthVersion13} {
		t.Run("sign="+v, func(t *testing.T) {
			e := newEnv(t)
			global := goChef(t, e, e.pivotal, "/", v)
			org := goChef(t, e, e.pivotal, "/organizations/pushlab/", v)

			o, err := global.Organizations.Get("pushlab")
			guid, _ := e.dir.OrgGUID(ctx, testOrg)
			if err != nil || o.Guid != guid || o.Name != "pushlab" {
				t.Fatalf("org %+v %v", o, err)
			}
			orgs, err := global.Organizations.List()
			if err != nil || orgs["pushlab"] == "" {
				t.Fatalf("orgs %v %v", orgs, err)
			}
			ur, err := global.Users.Create(chef.User{UserName: "gouser", Email: "go@example.com", DisplayName: "Go User", FirstName: "Go", LastName: "User", Password: "foobar", CreateKey: true})
			if err != nil || ur.ChefKey.PrivateKey == "" || ur.Uri != e.srv.URL+"/users/gouser" {
				t.Fatalf("create user %+v %v", ur, err)
			}
			u, err := global.Users.Get("gouser")
			if err != nil || u.Email != "go@example.com" || u.DisplayName != "Go User" {
				t.Fatalf("get user %+v %v", u, err)
			}
			if err := org.Associations.Add(chef.AddNow{Username: "gouser"}); err != nil {
				t.Fatalf("associate: %v", err)
			}
			members, err := org.Associations.List()
			if err != nil || len(members) != 2 {
				t.Fatalf("org users %+v %v", members, err)
			}

			cr, err := org.Clients.Create(chef.ApiNewClient{Name: "gonode", CreateKey: true})
			if err != nil || cr.ChefKey.PrivateKey == "" || cr.ChefKey.Name != "default" {
				t.Fatalf("create client %+v %v", cr, err)
			}
			nodeKey, err := chefauth.ParsePrivateKeyPEM([]byte(cr.ChefKey.PrivateKey))
			if err != nil {
				t.Fatal(err)
			}
			self := goChef(t, e, actor{"gonode", nodeKey}, "/organizations/pushlab/", v)
			cl, err := self.Clients.Get("gonode")
			if err != nil || cl.Name != "gonode" || cl.OrgName != "pushlab" || cl.Validator {
				t.Fatalf("client reads itself: %+v %v", cl, err)
			}
			list, err := org.Clients.List()
			if err != nil || len(list) != 2 {
				t.Fatalf("clients %v %v", list, err)
			}

			if _, err := org.Groups.Create(chef.Group{Name: "pushy_job_readers", GroupName: "pushy_job_readers"}); err != nil {
				t.Fatalf("create group: %v", err)
			}
			upd := chef.GroupUpdate{Name: "pushy_job_readers", GroupName: "pushy_job_readers"}
			upd.Actors.Users = []string{"gouser"}
			upd.Actors.Clients = []string{"gonode"}
			upd.Actors.Groups = []string{}
			if _, err := org.Groups.Update(upd); err != nil {
				t.Fatalf("update group: %v", err)
			}
			g, err := org.Groups.Get("pushy_job_readers")
			if err != nil || fmt.Sprint(g.Users, g.Clients, g.Actors) != "[gouser] [gonode] [gonode gouser]" {
				t.Fatalf("group %+v %v", g, err)
			}
			p, err := org.Principals.Get("gonode")
			if err != nil || len(p.Principals) != 1 || p.Principals[0].Type != "client" || !p.Principals[0].OrgMember {
				t.Fatalf("principal %+v %v", p, err)
			}
			if err := org.Groups.Delete("pushy_job_readers"); err != nil {
				t.Fatal(err)
			}
			if err := org.Clients.Delete("gonode"); err != nil {
				t.Fatal(err)
			}
			if _, err := self.Clients.Get("gonode"); err == nil || !strings.Contains(err.Error(), "401") {
				t.Fatalf("deleted client still authenticates: %v", err)
			}
			if err := global.Users.Delete("gouser"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestShortSignatureAccepted: a 1.0 signature whose RSA output starts with a zero byte, sent
// without that byte (as go-chef does), still verifies.
func TestShortSignatureAccepted(t *testing.T) {
	e := newEnv(t)
	s := &chefauth.Signer{UserID: "admin", Key: e.admin.key, Version: "1.0", Now: e.clock.Now}
	path := e.orgPath("/groups")
	for i := range 20000 {
		body := fmt.Sprintf(`{"groupname":"g%d"}`, i)
		h, err := s.Headers("POST", path, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		var enc strings.Builder
		for n := 1; h.Get("X-Ops-Authorization-"+strconv.Itoa(n)) != ""; n++ {
			enc.WriteString(h.Get("X-Ops-Authorization-" + strconv.Itoa(n)))
			h.Del("X-Ops-Authorization-" + strconv.Itoa(n))
		}
		sig, _ := base64.StdEncoding.DecodeString(enc.String())
		if sig[0] != 0 {
			continue
		}
		short := base64.StdEncoding.EncodeToString(sig[1:])
		for n := 1; len(short) > 0; n++ {
			k := min(60, len(short))
			h.Set("X-Ops-Authorization-"+strconv.Itoa(n), short[:k])
			short = short[k:]
		}
		r := e.send(req{mutate: func(hh http.Header) {
			for k, v := range h {
				hh[k] = v
			}
		}}, "POST", path, body)
		expect(t, r, 201, "")
		// The same bytes with one more dropped do not verify.
		h.Set("X-Ops-Authorization-1", h.Get("X-Ops-Authorization-1")[4:])
		r = e.send(req{mutate: func(hh http.Header) {
			for k, v := range h {
				hh[k] = v
			}
		}}, "POST", path, body)
		expect(t, r, 401, errBody("Invalid signature for user or client 'admin'"))
		return
	}
	t.Fatal("no signature with a leading zero byte found")
}
