package identity

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/server/store"
)

func (c *call) clientURL(name string) string { return c.orgURL() + "/clients/" + name }

func (c *call) clientNotFound(name string) {
	c.errors(http.StatusNotFound, "Cannot load client "+name)
}

func malformedClientName(name string) string {
	return fmt.Sprintf("Invalid client name '%s' using regex: 'Malformed client name.  Must be A-Z, a-z, 0-9, _, -, or .'.", name)
}

// GET /organizations/ORG/clients: name → URL.
func (c *call) listClients() {
	if !c.authenticate() || !c.permit(c.orgReader(), "read") {
		return
	}
	names, err := c.d.st.ListClients(c.ctx, c.rt.org)
	if err != nil {
		c.internal(err)
		return
	}
	out := make(map[string]string, len(names))
	for _, n := range names {
		out[n] = c.clientURL(n)
	}
	c.json(http.StatusOK, out)
}

// canCreateClient: the superuser, org admins, and the org's validator for plain clients.
func (c *call) canCreateClient(validator bool) bool {
	if c.who.kind == TypeClient && c.who.validator && !validator {
		return true
	}
	return c.orgAdmin()
}

// POST /organizations/ORG/clients (chef-api.md §2.7). As an extension for registering a fleet,
// a body {"names": [...], "public_key": PEM} creates every listed client that does not exist
// yet, all sharing that key, in one transaction: 201 {"created": [...], "existing": [...]}.
func (c *call) createClient() {
	o, ok := c.object()
	if !ok {
		return
	}
	if o.has("names") {
		c.createClientsBulk(o)
		return
	}
	name, hasName, nameOK := o.str("name")
	cname, hasCName, cnameOK := o.str("clientname")
	switch {
	case (hasName && !nameOK) || (hasCName && !cnameOK):
		c.errors(http.StatusBadRequest, "Field 'name' invalid")
		return
	case hasName && hasCName && name != cname:
		c.errors(http.StatusBadRequest, "name and clientname must match")
		return
	case !hasName && !hasCName:
		c.errors(http.StatusBadRequest, "Field 'name' missing")
		return
	case !hasName:
		name = cname
	}
	if !clientNameRE.MatchString(name) {
		c.errors(http.StatusBadRequest, malformedClientName(name))
		return
	}
	validator, ok := o.boolean("validator")
	if !ok {
		c.errors(http.StatusBadRequest, "Field 'validator' invalid")
		return
	}
	plan, ok := c.initialKey(o)
	if !ok || !c.authenticate() || !c.permit(c.canCreateClient(validator), "create") {
		return
	}
	if cl, err := c.d.clientRec(c.ctx, c.rt.org, name); err != nil {
		c.internal(err)
		return
	} else if cl.exists {
		c.errors(http.StatusConflict, "Client already exists")
		return
	}
	key, priv, err := plan.realize()
	if err != nil {
		c.internal(err)
		return
	}
	cs := []store.ClientWithKey{{Client: store.Client{Org: c.rt.org, Name: name, Validator: validator}, Key: key}}
	switch err := c.d.createClients(c.ctx, c.rt.org, cs, true); {
	case errors.Is(err, store.ErrExists):
		c.errors(http.StatusConflict, "Client already exists")
		return
	case errors.Is(err, store.ErrNotFound):
		c.errors(http.StatusNotFound, fmt.Sprintf("organization '%s' does not exist.", c.rt.org))
		return
	case err != nil:
		c.internal(err)
		return
	}
	uri := c.clientURL(name)
	body := orderedObject{{"uri", uri}}
	if c.api == 0 {
		body = append(body, kv{"public_key", key.PublicKeyPEM})
		if priv != nil {
			body = append(body, kv{"private_key", string(chefauth.EncodePrivateKeyPEM(priv))})
		}
	} else if key != nil {
		body = append(body, kv{"chef_key", chefKey(key, priv, uri+"/keys/default")})
	}
	c.created(uri, body)
}

// createClientsBulk is the {"names": [...], "public_key": PEM} form of POST /clients.
func (c *call) createClientsBulk(o jsonObject) {
	raw, ok := o["names"].([]any)
	if !ok {
		c.errors(http.StatusBadRequest, "Field 'names' invalid")
		return
	}
	names := make([]string, 0, len(raw))
	seen := make(map[string]bool, len(raw))
	for _, v := range raw {
		n, ok := v.(string)
		if !ok {
			c.errors(http.StatusBadRequest, "Field 'names' invalid")
			return
		}
		if !clientNameRE.MatchString(n) {
			c.errors(http.StatusBadRequest, malformedClientName(n))
			return
		}
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	pem, ok := c.requireString(o, "public_key", nil)
	if !ok {
		return
	}
	if _, err := chefauth.ParsePublicKeyPEM([]byte(pem)); err != nil {
		c.errors(http.StatusBadRequest, "Invalid public key")
		return
	}
	if !c.authenticate() || !c.permit(c.canCreateClient(false), "create") {
		return
	}
	existingNames, err := c.d.st.ListClients(c.ctx, c.rt.org)
	if err != nil {
		c.internal(err)
		return
	}
	exists := make(map[string]bool, len(existingNames))
	for _, n := range existingNames {
		exists[n] = true
	}
	created, existing := []string{}, []string{}
	var cs []store.ClientWithKey
	for _, n := range names {
		if exists[n] {
			existing = append(existing, n)
			continue
		}
		created = append(created, n)
		cs = append(cs, store.ClientWithKey{Client: store.Client{Org: c.rt.org, Name: n}, Key: &store.Key{Name: "default", PublicKeyPEM: pem}})
	}
	if len(cs) > 0 {
		switch err := c.d.createClients(c.ctx, c.rt.org, cs, false); {
		case errors.Is(err, store.ErrExists): // created meanwhile by someone else
			c.errors(http.StatusConflict, "Client already exists")
			return
		case err != nil:
			c.internal(err)
			return
		}
	}
	c.json(http.StatusCreated, orderedObject{{"created", created}, {"existing", existing}})
}

// clientJSON renders a client as GET /clients/N does (v0 adds the default public key).
func (c *call) clientJSON(name string, validator bool) (orderedObject, error) {
	o := orderedObject{{"name", name}, {"clientname", name}, {"validator", validator}, {"orgname", c.rt.org},
		{"json_class", "Chef::ApiClient"}, {"chef_type", "client"}}
	if c.api == 0 {
		pem, err := c.defaultPEM(store.KindClient, c.rt.org, name)
		if err != nil {
			return nil, err
		}
		if pem != "" {
			o = append(o, kv{"public_key", pem})
		}
	}
	return o, nil
}

// GET, PUT, DELETE /organizations/ORG/clients/N.
func (c *call) namedClient() {
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
	cl, err := c.d.st.GetClient(c.ctx, c.rt.org, name)
	if errors.Is(err, store.ErrNotFound) {
		c.clientNotFound(name)
		return
	} else if err != nil {
		c.internal(err)
		return
	}
	self := c.who.kind == TypeClient && c.who.name == name
	switch c.r.Method {
	case http.MethodGet, http.MethodDelete:
		if !c.permit(self || c.orgReader(), permFor(c.r.Method)) {
			return
		}
		body, err := c.clientJSON(name, cl.Validator)
		if err != nil {
			c.internal(err)
			return
		}
		if c.r.Method == http.MethodDelete {
			if err := c.d.deleteClient(c.ctx, c.rt.org, name); err != nil && !errors.Is(err, store.ErrNotFound) {
				c.internal(err)
				return
			}
		}
		c.json(http.StatusOK, body)
	case http.MethodPut:
		if !c.permit(self || c.orgAdmin(), "update") {
			return
		}
		c.updateClient(cl, o)
	}
}

// updateClient is PUT /clients/N: v0 re-keying ("private_key": true or "public_key"). The store
// keeps a client's name and validator flag immutable, so changing them is refused with 400.
func (c *call) updateClient(cl *store.Client, o jsonObject) {
	for _, k := range []string{"name", "clientname"} {
		if v, present, ok := o.str(k); present && (!ok || v != cl.Name) {
			c.errors(http.StatusBadRequest, fmt.Sprintf("Changing '%s' is not supported by this server", k))
			return
		}
	}
	if v, ok := o.boolean("validator"); !ok || (o.has("validator") && v != cl.Validator) {
		c.errors(http.StatusBadRequest, "Changing 'validator' is not supported by this server")
		return
	}
	key, priv, ok := c.rekey(o)
	if !ok {
		return
	}
	if key != nil {
		if err := c.d.replaceKey(c.ctx, store.KindClient, c.rt.org, cl.Name, "default", *key); err != nil {
			c.internal(err)
			return
		}
	}
	body, err := c.clientJSON(cl.Name, cl.Validator)
	if err != nil {
		c.internal(err)
		return
	}
	if priv != nil {
		body = append(body, kv{"private_key", string(chefauth.EncodePrivateKeyPEM(priv))})
	}
	c.json(http.StatusOK, body)
}
