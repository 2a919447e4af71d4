package identity

import (
	"crypto/md5"
	"encoding/hex"
	"net/http"
)

// authzID is a stable 32-hex-digit id standing in for erchef's authz ids.
func authzID(kind, org, name string) string {
	s := md5.Sum([]byte(kind + "\x00" + org + "\x00" + name))
	return hex.EncodeToString(s[:])
}

// principal serves GET /organizations/ORG/principals/NAME (chef-api.md §2.12), without
// authentication: at v0 one object (the org's client if it has a live key, else the user), from
// v1 {"principals": [...]} with one entry per unexpired key, the user's first.
func (c *call) principal() {
	org, name := c.rt.org, c.rt.name
	o, err := c.d.orgRec(c.ctx, org)
	if err != nil {
		c.internal(err)
		return
	}
	if !o.exists {
		c.json(http.StatusNotFound, orderedObject{{"not_found", "org"}, {"error", "Cannot find org " + org}})
		return
	}
	now := c.d.now()
	u, err := c.d.userRec(c.ctx, name)
	if err != nil {
		c.internal(err)
		return
	}
	cl, err := c.d.clientRec(c.ctx, org, name)
	if err != nil {
		c.internal(err)
		return
	}
	entry := func(kind string, k keyRec, member bool) orderedObject {
		return orderedObject{{"name", name}, {"public_key", k.pem}, {"type", kind}, {"authz_id", authzID(kind, org, name)}, {"org_member", member}}
	}
	var userEntries, clientEntries []orderedObject
	if u.exists {
		if keys := u.liveKeys(now); len(keys) > 0 {
			member, err := c.d.memberRec(c.ctx, org, name)
			if err != nil {
				c.internal(err)
				return
			}
			for _, k := range keys {
				userEntries = append(userEntries, entry(TypeUser, k, member))
			}
		}
	}
	if cl.exists {
		for _, k := range cl.liveKeys(now) {
			clientEntries = append(clientEntries, entry(TypeClient, k, true))
		}
	}
	if len(userEntries)+len(clientEntries) == 0 {
		c.json(http.StatusNotFound, orderedObject{{"not_found", "principal"}, {"error", "Cannot find principal " + name}})
		return
	}
	if c.api == 0 {
		entries, rec := clientEntries, cl
		if len(entries) == 0 {
			entries, rec = userEntries, u
		}
		c.json(http.StatusOK, entries[defaultIndex(rec.liveKeys(now))])
		return
	}
	c.json(http.StatusOK, map[string][]orderedObject{"principals": append(userEntries, clientEntries...)})
}

// defaultIndex is the index of the "default" key, else 0.
func defaultIndex(keys []keyRec) int {
	for i, k := range keys {
		if k.name == "default" {
			return i
		}
	}
	return 0
}
