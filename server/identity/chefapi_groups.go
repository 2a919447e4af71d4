package identity

import (
	"errors"
	"net/http"
	"strings"

	"github.com/pushlab/pushlab/server/store"
)

func (c *call) groupURL(name string) string { return c.orgURL() + "/groups/" + name }

// GET /organizations/ORG/groups: name → URL.
func (c *call) listGroups() {
	if !c.authenticate() || !c.permit(c.orgReader(), "read") {
		return
	}
	names, err := c.d.st.ListGroups(c.ctx, c.rt.org)
	if err != nil {
		c.internal(err)
		return
	}
	out := make(map[string]string, len(names))
	for _, n := range names {
		out[n] = c.groupURL(n)
	}
	c.json(http.StatusOK, out)
}

// POST /organizations/ORG/groups {"groupname": G} (chef-api.md §2.11); members are set by PUT.
func (c *call) createGroup() {
	o, ok := c.object()
	if !ok {
		return
	}
	field := "groupname"
	if !o.has("groupname") && o.has("id") {
		field = "id"
	}
	name, present, isStr := o.str(field)
	if !present {
		c.errors(http.StatusBadRequest, "Field 'groupname' missing")
		return
	}
	if !isStr || !groupNameRE.MatchString(name) {
		c.errors(http.StatusBadRequest, "Invalid group name.")
		return
	}
	if !c.authenticate() || !c.permit(c.orgAdmin(), "create") {
		return
	}
	switch err := c.d.createGroup(c.ctx, c.rt.org, name); {
	case errors.Is(err, store.ErrExists):
		c.errors(http.StatusConflict, "Group already exists")
		return
	case err != nil:
		c.internal(err)
		return
	}
	uri := c.groupURL(name)
	c.created(uri, orderedObject{{"uri", uri}})
}

// groupJSON renders a group: actors are the clients then the users, each list sorted.
func (c *call) groupJSON(name string, g *groupRec) orderedObject {
	users, clients, groups := g.sorted()
	actors := append(append([]string{}, clients...), users...)
	return orderedObject{{"actors", actors}, {"users", users}, {"clients", clients}, {"groups", groups},
		{"orgname", c.rt.org}, {"name", name}, {"groupname", name}}
}

// defaultGroup reports the groups erchef creates with restricted ACLs.
func defaultGroup(name string) bool {
	for _, g := range defaultGroups {
		if g == name {
			return true
		}
	}
	return false
}

// GET, PUT, DELETE /organizations/ORG/groups/G.
func (c *call) namedGroup() {
	var o jsonObject
	if c.r.Method == http.MethodPut {
		var ok bool
		if o, ok = c.object(); !ok {
			return
		}
		if v, present, isStr := o.str("groupname"); present && (!isStr || !groupNameRE.MatchString(v)) {
			c.errors(http.StatusBadRequest, "Invalid group name.")
			return
		}
	}
	if !c.authenticate() {
		return
	}
	name := c.rt.name
	g, err := c.d.groupRec(c.ctx, c.rt.org, name)
	if err != nil {
		c.internal(err)
		return
	}
	if !g.exists {
		c.errors(http.StatusNotFound, "Cannot load group "+name)
		return
	}
	switch c.r.Method {
	case http.MethodGet:
		if !c.permit(c.orgAdmin() || (!defaultGroup(name) && c.in(usersGroup)), "read") {
			return
		}
		c.json(http.StatusOK, c.groupJSON(name, g))
	case http.MethodDelete:
		if !c.permit(c.orgAdmin(), "delete") {
			return
		}
		body := c.groupJSON(name, g)
		if err := c.d.deleteGroup(c.ctx, c.rt.org, name); err != nil && !errors.Is(err, store.ErrNotFound) {
			c.internal(err)
			return
		}
		c.json(http.StatusOK, body)
	case http.MethodPut:
		if !c.permit(c.orgAdmin(), "update") {
			return
		}
		c.updateGroup(name, o)
	}
}

// updateGroup is PUT /groups/G: each member list present replaces the old one; names that do
// not resolve (users globally, clients and groups in the org) are dropped; a new groupname
// renames the group (201). The answer echoes the request body.
func (c *call) updateGroup(name string, o jsonObject) {
	var users, clients, groups *[]string
	switch actors := o["actors"].(type) {
	case map[string]any:
		var ok bool
		for _, l := range []struct {
			k    string
			dst  **[]string
			kind string
		}{{"users", &users, TypeUser}, {"clients", &clients, TypeClient}, {"groups", &groups, "group"}} {
			raw, present := actors[l.k]
			if !present || raw == nil {
				continue
			}
			list, isList := raw.([]any)
			if !isList {
				c.errors(http.StatusBadRequest, "Field 'actors' invalid")
				return
			}
			var resolved []string
			if resolved, ok = c.resolve(list, l.kind); !ok {
				return
			}
			*l.dst = &resolved
		}
	case []any:
		// The flat form: each name is a user if one exists, else a client of the org.
		u, ok := c.resolve(actors, TypeUser)
		if !ok {
			return
		}
		cl, ok := c.resolve(actors, TypeClient)
		if !ok {
			return
		}
		users, clients = &u, &cl
	case nil:
	default:
		c.errors(http.StatusBadRequest, "Field 'actors' invalid")
		return
	}
	newName, _, _ := o.str("groupname")
	switch err := c.d.putGroup(c.ctx, c.rt.org, name, newName, users, clients, groups); {
	case errors.Is(err, store.ErrExists):
		c.errors(http.StatusConflict, "Group already exists")
		return
	case errors.Is(err, store.ErrNotFound):
		c.errors(http.StatusNotFound, "Cannot load group "+name)
		return
	case err != nil:
		c.internal(err)
		return
	}
	status := http.StatusOK
	if newName != "" && newName != name {
		c.w.Header().Set("Location", c.groupURL(newName))
		status = http.StatusCreated
	}
	c.raw(status, c.body)
}

// resolve keeps the names that exist as kind: users globally, clients and groups in the org
// ("ORG::name" is accepted for the org's own clients and groups).
func (c *call) resolve(list []any, kind string) ([]string, bool) {
	out := []string{}
	for _, v := range list {
		n, ok := v.(string)
		if !ok {
			c.errors(http.StatusBadRequest, "Field 'actors' invalid")
			return nil, false
		}
		if kind != TypeUser {
			if org, rest, scoped := strings.Cut(n, "::"); scoped {
				if org != c.rt.org {
					continue
				}
				n = rest
			}
		}
		var exists bool
		switch kind {
		case TypeUser:
			r, err := c.d.userRec(c.ctx, n)
			if err != nil {
				c.internal(err)
				return nil, false
			}
			exists = r.exists
		case TypeClient:
			r, err := c.d.clientRec(c.ctx, c.rt.org, n)
			if err != nil {
				c.internal(err)
				return nil, false
			}
			exists = r.exists
		default:
			r, err := c.d.groupRec(c.ctx, c.rt.org, n)
			if err != nil {
				c.internal(err)
				return nil, false
			}
			exists = r.exists
		}
		if exists {
			out = append(out, n)
		}
	}
	return out, true
}
