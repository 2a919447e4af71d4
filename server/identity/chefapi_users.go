package identity

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"sort"

	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/server/store"
)

// keyPlan is what a create body asks for the new actor's "default" key.
type keyPlan struct {
	pem      string // the caller's public key
	generate bool   // make a key pair
}

// none reports a keyless actor (possible from API v1 on).
func (k keyPlan) none() bool { return k.pem == "" && !k.generate }

// initialKey reads public_key / create_key / private_key of a user or client create body
// (chef-api.md §2.4, §2.7): at v0 a key pair is made unless a public key is given; from v1
// create_key and public_key are exclusive and neither means no key.
func (c *call) initialKey(o jsonObject) (keyPlan, bool) {
	pub, hasPub, ok := o.str("public_key")
	if hasPub && !ok {
		c.errors(http.StatusBadRequest, "Field 'public_key' invalid")
		return keyPlan{}, false
	}
	if hasPub {
		if _, err := chefauth.ParsePublicKeyPEM([]byte(pub)); err != nil {
			c.errors(http.StatusBadRequest, "Invalid public key")
			return keyPlan{}, false
		}
	}
	if c.api == 0 {
		if hasPub {
			return keyPlan{pem: pub}, true
		}
		return keyPlan{generate: true}, true
	}
	if o.has("private_key") {
		c.errors(http.StatusBadRequest, "Please use create_key: true instead of private_key: true")
		return keyPlan{}, false
	}
	create, ok := o.boolean("create_key")
	if !ok {
		c.errors(http.StatusBadRequest, "Field 'create_key' invalid")
		return keyPlan{}, false
	}
	if create && hasPub {
		c.errors(http.StatusBadRequest, "You must specify either create_key or public_key, but not both")
		return keyPlan{}, false
	}
	return keyPlan{pem: pub, generate: create}, true
}

// realize makes the planned key: the stored key (nil when none) and the private key made.
func (k keyPlan) realize() (*store.Key, *rsa.PrivateKey, error) {
	switch {
	case k.generate:
		priv, err := chefauth.GenerateKey()
		if err != nil {
			return nil, nil, err
		}
		return defaultKey(&priv.PublicKey), priv, nil
	case k.pem != "":
		return &store.Key{Name: "default", PublicKeyPEM: k.pem}, nil, nil
	}
	return nil, nil, nil
}

// chefKey is the v1 "chef_key" object of a create response.
func chefKey(key *store.Key, priv *rsa.PrivateKey, uri string) orderedObject {
	o := orderedObject{{"name", key.Name}, {"public_key", key.PublicKeyPEM}, {"expiration_date", "infinity"}, {"uri", uri}}
	if priv != nil {
		o = append(o, kv{"private_key", string(chefauth.EncodePrivateKeyPEM(priv))})
	}
	return o
}

func (c *call) userURL(name string) string { return c.base() + "/users/" + name }

// userNotFound is 404 {"error": "Could not find user U"} (a string, as erchef sends it).
func (c *call) userNotFound(name string) {
	c.errorString(http.StatusNotFound, "Could not find user "+name)
}

// GET /users: name → URL; ?email= filters, ?verbose=true adds email and names.
func (c *call) listUsers() {
	if !c.authenticate() || !c.permit(c.who.superuser(), "read") {
		return
	}
	names, err := c.d.st.ListUsers(c.ctx)
	if err != nil {
		c.internal(err)
		return
	}
	q := c.r.URL.Query()
	email, verbose := q.Get("email"), q.Get("verbose") == "true"
	out := map[string]any{}
	for _, n := range names {
		var u *store.User
		if email != "" || verbose {
			if u, err = c.d.st.GetUser(c.ctx, n); err != nil {
				continue
			}
			if email != "" && u.Email != email {
				continue
			}
		}
		if verbose {
			out[n] = map[string]string{"email": u.Email, "first_name": u.FirstName, "last_name": u.LastName}
		} else {
			out[n] = c.userURL(n)
		}
	}
	c.json(http.StatusOK, out)
}

// POST /users (chef-api.md §2.4).
func (c *call) createUser() {
	o, ok := c.object()
	if !ok {
		return
	}
	field := "username"
	if !o.has("username") && o.has("name") {
		field = "name"
	}
	name, ok := c.requireString(o, field, userNameRE)
	if !ok {
		return
	}
	display, ok := c.requireString(o, "display_name", nil)
	if !ok {
		return
	}
	var u store.User
	u.Name, u.DisplayName = name, display
	_, extAuth, _ := o.str("external_authentication_uid")
	if u.Email, ok = c.requireString(o, "email", emailRE); !ok {
		return
	}
	if !extAuth {
		pw, ok := c.requireString(o, "password", nil)
		if !ok {
			return
		}
		if len(pw) < 6 {
			c.errors(http.StatusBadRequest, "Password must have at least 6 characters")
			return
		}
	}
	for _, f := range []struct {
		k string
		v *string
	}{{"first_name", &u.FirstName}, {"last_name", &u.LastName}, {"middle_name", &u.MiddleName}} {
		if *f.v, ok = c.optionalString(o, f.k); !ok {
			return
		}
	}
	plan, ok := c.initialKey(o)
	if !ok {
		return
	}
	if !c.authenticate() || !c.permit(c.who.superuser(), "create") {
		return
	}
	taken, err := c.d.st.UserEmailTaken(c.ctx, u.Email)
	if err != nil {
		c.internal(err)
		return
	}
	if _, err := c.d.st.GetUser(c.ctx, name); taken || err == nil {
		c.errors(http.StatusConflict, "Username or email address already in use.")
		return
	}
	key, priv, err := plan.realize()
	if err != nil {
		c.internal(err)
		return
	}
	u.CreatedAt = c.d.now().UTC()
	if err := c.d.createUser(c.ctx, u, key); errors.Is(err, store.ErrExists) {
		c.errors(http.StatusConflict, "Username or email address already in use.")
		return
	} else if err != nil {
		c.internal(err)
		return
	}
	uri := c.userURL(name)
	body := orderedObject{{"uri", uri}}
	switch {
	case c.api == 0 && priv != nil:
		body = append(body, kv{"private_key", string(chefauth.EncodePrivateKeyPEM(priv))})
	case c.api > 0 && key != nil:
		body = append(body, kv{"chef_key", chefKey(key, priv, uri+"/keys/default")})
	}
	c.created(uri, body)
}

// userJSON renders a user as GET /users/U does (v0 adds the default public key).
func (c *call) userJSON(u *store.User) (orderedObject, error) {
	o := orderedObject{{"username", u.Name}, {"email", u.Email}, {"display_name", u.DisplayName}, {"first_name", u.FirstName}, {"last_name", u.LastName}}
	if u.MiddleName != "" {
		o = append(o, kv{"middle_name", u.MiddleName})
	}
	if c.api == 0 {
		pem, err := c.defaultPEM(store.KindUser, "", u.Name)
		if err != nil {
			return nil, err
		}
		if pem != "" {
			o = append(o, kv{"public_key", pem})
		}
	}
	return o, nil
}

// defaultPEM is the actor's "default" public key (or its first key), "" when keyless.
func (c *call) defaultPEM(kind, org, owner string) (string, error) {
	keys, err := c.d.st.ListKeys(c.ctx, kind, org, owner)
	if err != nil || len(keys) == 0 {
		return "", err
	}
	for _, k := range keys {
		if k.Name == "default" {
			return k.PublicKeyPEM, nil
		}
	}
	return keys[0].PublicKeyPEM, nil
}

// GET, PUT, DELETE /users/U.
func (c *call) namedUser() {
	var o jsonObject
	if c.r.Method == http.MethodPut {
		var ok bool
		if o, ok = c.object(); !ok {
			return
		}
	}
	if !c.authenticate() {
		return
	}
	name := c.rt.name
	u, err := c.d.st.GetUser(c.ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		c.userNotFound(name)
		return
	} else if err != nil {
		c.internal(err)
		return
	}
	if !c.permit(c.who.superuser() || (c.who.kind == TypeUser && c.who.name == name), permFor(c.r.Method)) {
		return
	}
	switch c.r.Method {
	case http.MethodGet:
		body, err := c.userJSON(u)
		if err != nil {
			c.internal(err)
			return
		}
		c.json(http.StatusOK, body)
	case http.MethodDelete:
		body, err := c.userJSON(u)
		if err != nil {
			c.internal(err)
			return
		}
		if err := c.d.deleteUser(c.ctx, name); err != nil && !errors.Is(err, store.ErrNotFound) {
			c.internal(err)
			return
		}
		c.json(http.StatusOK, body)
	case http.MethodPut:
		c.updateUser(u, o)
	}
}

// updateUser is PUT /users/U: key changes (v0 public_key or private_key: true). The store keeps
// user attributes immutable, so changing one (or the name) is refused with 400.
func (c *call) updateUser(u *store.User, o jsonObject) {
	for _, f := range []struct{ k, v string }{
		{"username", u.Name}, {"name", u.Name}, {"email", u.Email}, {"display_name", u.DisplayName},
		{"first_name", u.FirstName}, {"last_name", u.LastName}, {"middle_name", u.MiddleName},
	} {
		v, present, ok := o.str(f.k)
		if present && (!ok || v != f.v) {
			c.errors(http.StatusBadRequest, fmt.Sprintf("Changing '%s' is not supported by this server", f.k))
			return
		}
	}
	key, priv, ok := c.rekey(o)
	if !ok {
		return
	}
	if key != nil {
		if err := c.d.replaceKey(c.ctx, store.KindUser, "", u.Name, "default", *key); err != nil {
			c.internal(err)
			return
		}
	}
	body := orderedObject{{"uri", c.userURL(u.Name)}}
	if priv != nil {
		body = append(body, kv{"private_key", string(chefauth.EncodePrivateKeyPEM(priv))})
	}
	c.json(http.StatusOK, body)
}

// rekey reads the v0 key fields of a PUT body: "private_key": true makes a new pair,
// "public_key" replaces the default key. From v1 on, keys change only through the keys
// endpoints.
func (c *call) rekey(o jsonObject) (*store.Key, *rsa.PrivateKey, bool) {
	regen, ok := o.boolean("private_key")
	if !ok {
		c.errors(http.StatusBadRequest, "Field 'private_key' invalid")
		return nil, nil, false
	}
	pub, hasPub, ok := o.str("public_key")
	if hasPub && !ok && o["public_key"] != nil {
		c.errors(http.StatusBadRequest, "Field 'public_key' invalid")
		return nil, nil, false
	}
	if c.api > 0 && (o.has("private_key") || o.has("public_key") || o.has("create_key")) {
		c.errors(http.StatusBadRequest, "Since Server API v1, all keys must be updated via the keys endpoint. ")
		return nil, nil, false
	}
	switch {
	case regen:
		priv, err := chefauth.GenerateKey()
		if err != nil {
			c.internal(err)
			return nil, nil, false
		}
		return defaultKey(&priv.PublicKey), priv, true
	case pub != "":
		if _, err := chefauth.ParsePublicKeyPEM([]byte(pub)); err != nil {
			c.errors(http.StatusBadRequest, "Invalid public key")
			return nil, nil, false
		}
		return &store.Key{Name: "default", PublicKeyPEM: pub}, nil, true
	}
	return nil, nil, true
}

// ---- org associations ----

// GET /organizations/ORG/users: [{"user": {"username": U}}, ...].
func (c *call) listOrgUsers() {
	if !c.authenticate() || !c.permit(c.orgReader(), "read") {
		return
	}
	names, err := c.d.st.ListOrgUsers(c.ctx, c.rt.org)
	if err != nil {
		c.internal(err)
		return
	}
	sort.Strings(names)
	out := make([]map[string]map[string]string, len(names))
	for i, n := range names {
		out[i] = map[string]map[string]string{"user": {"username": n}}
	}
	c.json(http.StatusOK, out)
}

// POST /organizations/ORG/users {"username": U}: superuser only (chef-api.md §2.6).
func (c *call) associateUser() {
	o, ok := c.object()
	if !ok {
		return
	}
	name, ok := c.requireString(o, "username", nil)
	if !ok || !c.authenticate() {
		return
	}
	if _, err := c.d.st.GetUser(c.ctx, name); errors.Is(err, store.ErrNotFound) {
		c.userNotFound(name)
		return
	} else if err != nil {
		c.internal(err)
		return
	}
	if !c.permit(c.who.superuser(), "create") {
		return
	}
	switch err := c.d.associate(c.ctx, c.rt.org, name); {
	case errors.Is(err, store.ErrExists):
		c.errorString(http.StatusConflict, "The association already exists.")
		return
	case err != nil:
		c.internal(err)
		return
	}
	c.w.Header().Set("Location", c.orgURL()+"/users/"+name)
	c.w.WriteHeader(http.StatusCreated)
}

// GET, DELETE /organizations/ORG/users/U.
func (c *call) namedOrgUser() {
	if !c.authenticate() {
		return
	}
	u, ok := c.orgUser()
	if !ok {
		return
	}
	self := c.who.kind == TypeUser && c.who.name == u.Name
	if c.r.Method == http.MethodGet {
		if !c.permit(self || c.orgReader(), "read") {
			return
		}
	} else {
		if !c.permit(self || c.orgAdmin(), "delete") {
			return
		}
		if admin, _, err := c.d.IsMember(c.ctx, c.rt.org, adminsGroup, &Principal{Name: u.Name, Type: TypeUser}); err != nil {
			c.internal(err)
			return
		} else if admin {
			c.errorString(http.StatusForbidden, fmt.Sprintf("Please remove %s from this organization's admins group before removing him or her from the organization.", u.Name))
			return
		}
		if err := c.d.dissociate(c.ctx, c.rt.org, u.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
			c.internal(err)
			return
		}
	}
	body, err := c.userJSON(u)
	if err != nil {
		c.internal(err)
		return
	}
	c.json(http.StatusOK, body)
}

// orgUser loads the user of the path and checks it is associated with the org (404s).
func (c *call) orgUser() (*store.User, bool) {
	u, err := c.d.st.GetUser(c.ctx, c.rt.name)
	if errors.Is(err, store.ErrNotFound) {
		c.userNotFound(c.rt.name)
		return nil, false
	} else if err != nil {
		c.internal(err)
		return nil, false
	}
	m, err := c.d.st.IsOrgMember(c.ctx, c.rt.org, u.Name)
	if err != nil {
		c.internal(err)
		return nil, false
	}
	if !m {
		c.errorString(http.StatusNotFound, fmt.Sprintf("Cannot find a user %s in organization %s", u.Name, c.rt.org))
		return nil, false
	}
	return u, true
}
