package identity

import (
	"errors"
	"net/http"

	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/server/store"
)

// GET /organizations: name → URL (superuser).
func (c *call) listOrgs() {
	if !c.authenticate() || !c.permit(c.who.superuser(), "read") {
		return
	}
	orgs, err := c.d.st.ListOrgs(c.ctx)
	if err != nil {
		c.internal(err)
		return
	}
	out := make(map[string]string, len(orgs))
	for _, o := range orgs {
		out[o.Name] = c.base() + "/organizations/" + o.Name
	}
	c.json(http.StatusOK, out)
}

// POST /organizations (chef-api.md §2.1): superuser only; 201 with the validator's key.
func (c *call) createOrg() {
	o, ok := c.object()
	if !ok {
		return
	}
	name, ok := c.requireString(o, "name", orgNameRE)
	if !ok {
		return
	}
	full, ok := c.requireString(o, "full_name", fullNameRE)
	if !ok {
		return
	}
	if len([]rune(full)) > 1023 {
		c.errors(http.StatusBadRequest, "Field 'full_name' invalid")
		return
	}
	if !c.authenticate() || !c.permit(c.who.superuser(), "create") {
		return
	}
	if _, err := c.d.st.GetOrg(c.ctx, name); err == nil {
		c.errorString(http.StatusConflict, "Organization already exists")
		return
	}
	key, err := c.d.createOrg(c.ctx, name, full, c.who)
	if errors.Is(err, store.ErrExists) {
		c.errorString(http.StatusConflict, "Organization already exists")
		return
	} else if err != nil {
		c.internal(err)
		return
	}
	uri := c.base() + "/organizations/" + name
	c.created(uri, orderedObject{{"uri", uri}, {"clientname", validatorName(name)}, {"private_key", string(chefauth.EncodePrivateKeyPEM(key))}})
}

// GET, DELETE /organizations/ORG.
func (c *call) namedOrg() {
	if !c.authenticate() {
		return
	}
	if c.r.Method == http.MethodGet {
		if !c.permit(c.orgReader(), "read") {
			return
		}
	} else if !c.permit(c.orgAdmin(), "delete") {
		return
	}
	o, err := c.d.st.GetOrg(c.ctx, c.rt.org)
	if errors.Is(err, store.ErrNotFound) {
		c.errors(http.StatusNotFound, "organization '"+c.rt.org+"' does not exist.")
		return
	} else if err != nil {
		c.internal(err)
		return
	}
	body := orderedObject{{"name", o.Name}, {"full_name", o.FullName}, {"guid", o.GUID}}
	if c.r.Method == http.MethodDelete {
		if err := c.d.deleteOrg(c.ctx, o.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
			c.internal(err)
			return
		}
	}
	c.json(http.StatusOK, body)
}
