package identity

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/server/store"
)

// The keys endpoints (chef-api.md §2.8, §2.10): /users/U/keys[/K],
// /organizations/ORG/clients/C/keys[/K] and, read-only, /organizations/ORG/users/U/keys[/K].

// keyOwner is the actor of a keys path.
type keyOwner struct {
	kind, org, name string
	url             string // the keys collection
}

// keyOwner resolves the path's user or client (404 when missing) and checks the permission:
// reading an org actor's keys is open to every org member; otherwise the superuser, the actor
// itself and, for clients, org admins.
func (c *call) keyOwner() (keyOwner, bool) {
	var ko keyOwner
	switch c.rt.kind {
	case "user_keys", "user_key":
		ko = keyOwner{kind: store.KindUser, name: c.rt.name, url: c.userURL(c.rt.name) + "/keys"}
		if _, err := c.d.st.GetUser(c.ctx, c.rt.name); errors.Is(err, store.ErrNotFound) {
			c.userNotFound(c.rt.name)
			return ko, false
		} else if err != nil {
			c.internal(err)
			return ko, false
		}
	case "org_user_keys", "org_user_key":
		ko = keyOwner{kind: store.KindUser, name: c.rt.name, url: c.orgURL() + "/users/" + c.rt.name + "/keys"}
		if _, ok := c.orgUser(); !ok {
			return ko, false
		}
	default:
		ko = keyOwner{kind: store.KindClient, org: c.rt.org, name: c.rt.name, url: c.clientURL(c.rt.name) + "/keys"}
		if _, err := c.d.st.GetClient(c.ctx, c.rt.org, c.rt.name); errors.Is(err, store.ErrNotFound) {
			c.clientNotFound(c.rt.name)
			return ko, false
		} else if err != nil {
			c.internal(err)
			return ko, false
		}
	}
	self := c.who.name == ko.name && ((ko.kind == store.KindUser && c.who.kind == TypeUser) || (ko.kind == store.KindClient && c.who.kind == TypeClient))
	var ok bool
	switch {
	case c.r.Method == http.MethodGet && c.rt.org != "":
		ok = true // authenticate already required org membership
	case ko.kind == store.KindClient:
		ok = self || c.orgAdmin()
	default:
		ok = self || c.who.superuser()
	}
	if c.r.Method == http.MethodGet {
		return ko, c.permit(ok, "read")
	}
	return ko, c.permit(ok, "update")
}

func formatExpiry(t time.Time) string {
	if t.IsZero() {
		return "infinity"
	}
	return t.UTC().Format(chefauth.TimestampLayout)
}

// parseExpiry reads "infinity" or YYYY-MM-DDTHH:MM:SSZ.
func parseExpiry(s string) (time.Time, bool) {
	if s == "infinity" {
		return time.Time{}, true
	}
	t, err := time.Parse(chefauth.TimestampLayout, s)
	return t, err == nil
}

func keyJSON(k store.Key) orderedObject {
	return orderedObject{{"name", k.Name}, {"public_key", k.PublicKeyPEM}, {"expiration_date", formatExpiry(k.Expires)}}
}

// GET, POST .../keys.
func (c *call) keys() {
	var o jsonObject
	var name string
	var expires time.Time
	var plan keyPlan
	if c.r.Method == http.MethodPost {
		var ok bool
		if o, ok = c.object(); !ok {
			return
		}
		if name, ok = c.requireString(o, "name", keyNameRE); !ok {
			return
		}
		exp, ok := c.requireString(o, "expiration_date", nil)
		if !ok {
			return
		}
		if expires, ok = parseExpiry(exp); !ok {
			c.errors(http.StatusBadRequest, "Field 'expiration_date' invalid")
			return
		}
		if plan, ok = c.keyFields(o); !ok {
			return
		}
		if plan.none() {
			plan.generate = true // neither public_key nor create_key: generate, as erchef does
		}
	}
	if !c.authenticate() {
		return
	}
	ko, ok := c.keyOwner()
	if !ok {
		return
	}
	if c.r.Method == http.MethodGet {
		list, err := c.d.st.ListKeys(c.ctx, ko.kind, ko.org, ko.name)
		if err != nil {
			c.internal(err)
			return
		}
		now := c.d.now()
		out := make([]orderedObject, len(list))
		for i, k := range list {
			out[i] = orderedObject{{"uri", ko.url + "/" + k.Name}, {"name", k.Name}, {"expired", k.Expired(now)}}
		}
		c.json(http.StatusOK, out)
		return
	}
	key, priv, err := plan.realize()
	if err != nil {
		c.internal(err)
		return
	}
	key.Name, key.Expires = name, expires
	switch err := c.d.addKey(c.ctx, ko.kind, ko.org, ko.name, *key); {
	case errors.Is(err, store.ErrExists):
		c.errorString(http.StatusConflict, fmt.Sprintf("a key with the name '%s' already exists for this actor.", name))
		return
	case err != nil:
		c.internal(err)
		return
	}
	uri := ko.url + "/" + name
	body := orderedObject{{"uri", uri}}
	if priv != nil {
		body = append(body, kv{"private_key", string(chefauth.EncodePrivateKeyPEM(priv))})
	}
	c.created(uri, body)
}

// keyFields reads public_key / create_key of a keys body (exclusive).
func (c *call) keyFields(o jsonObject) (keyPlan, bool) {
	pub, hasPub, ok := o.str("public_key")
	if hasPub && !ok {
		c.errors(http.StatusBadRequest, "Field 'public_key' invalid")
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
	if hasPub {
		if _, err := chefauth.ParsePublicKeyPEM([]byte(pub)); err != nil {
			c.errors(http.StatusBadRequest, "Invalid public key")
			return keyPlan{}, false
		}
	}
	return keyPlan{pem: pub, generate: create}, true
}

// GET, PUT, DELETE .../keys/K.
func (c *call) namedKey() {
	var o jsonObject
	var plan keyPlan
	if c.r.Method == http.MethodPut {
		var ok bool
		if o, ok = c.object(); !ok {
			return
		}
		if !o.has("name") && !o.has("expiration_date") && !o.has("public_key") && !o.has("create_key") {
			c.errorString(http.StatusBadRequest, "At least one of 'name', 'expiration_date', or 'public_key' must be specified")
			return
		}
		if o.has("name") {
			if _, ok := c.requireString(o, "name", keyNameRE); !ok {
				return
			}
		}
		if o.has("expiration_date") {
			exp, ok := c.requireString(o, "expiration_date", nil)
			if !ok {
				return
			}
			if _, ok := parseExpiry(exp); !ok {
				c.errors(http.StatusBadRequest, "Field 'expiration_date' invalid")
				return
			}
		}
		if plan, ok = c.keyFields(o); !ok {
			return
		}
	}
	if !c.authenticate() {
		return
	}
	ko, ok := c.keyOwner()
	if !ok {
		return
	}
	if c.r.Method != http.MethodGet && c.who.name == ko.name && c.who.key == c.rt.key &&
		((ko.kind == store.KindUser) == (c.who.kind == TypeUser)) {
		c.errors(http.StatusForbidden, fmt.Sprintf("The key '%s' was used to authenticate this request and cannot be modified or deleted.", c.rt.key))
		return
	}
	list, err := c.d.st.ListKeys(c.ctx, ko.kind, ko.org, ko.name)
	if err != nil {
		c.internal(err)
		return
	}
	var cur *store.Key
	for i := range list {
		if list[i].Name == c.rt.key {
			cur = &list[i]
		}
	}
	if cur == nil {
		c.errors(http.StatusNotFound, fmt.Sprintf("There is no key named '%s' for %s '%s'", c.rt.key, ko.kind, ko.name))
		return
	}
	switch c.r.Method {
	case http.MethodGet:
		c.json(http.StatusOK, keyJSON(*cur))
	case http.MethodDelete:
		if err := c.d.deleteKey(c.ctx, ko.kind, ko.org, ko.name, cur.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
			c.internal(err)
			return
		}
		c.json(http.StatusOK, keyJSON(*cur))
	case http.MethodPut:
		next := *cur
		if v, present, _ := o.str("name"); present {
			next.Name = v
		}
		if v, present, _ := o.str("expiration_date"); present {
			next.Expires, _ = parseExpiry(v)
		}
		var priv []byte
		switch {
		case plan.generate:
			k, err := chefauth.GenerateKey()
			if err != nil {
				c.internal(err)
				return
			}
			next.PublicKeyPEM = string(chefauth.EncodePublicKeyPEM(&k.PublicKey))
			priv = chefauth.EncodePrivateKeyPEM(k)
		case plan.pem != "":
			next.PublicKeyPEM = plan.pem
		}
		switch err := c.d.replaceKey(c.ctx, ko.kind, ko.org, ko.name, cur.Name, next); {
		case errors.Is(err, store.ErrExists):
			c.errorString(http.StatusConflict, fmt.Sprintf("a key with the name '%s' already exists for this actor.", next.Name))
			return
		case err != nil:
			c.internal(err)
			return
		}
		body := keyJSON(next)
		if priv != nil {
			body = append(body, kv{"private_key", string(priv)})
		}
		status := http.StatusOK
		if next.Name != cur.Name {
			c.w.Header().Set("Location", ko.url+"/"+next.Name)
			status = http.StatusCreated
		}
		c.json(status, body)
	}
}
