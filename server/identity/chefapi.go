package identity

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pushlab/pushlab/internal/chefauth"
)

// The Chef Server API subset of chef-api.md, processed in erchef's order (chef-api.md §2):
// API version (406), method (405), authentication headers (400/401), body size (413), org
// (404), body validation (400), signature (401), org membership (403), then per resource:
// existence (404) and permission (403).

// MaxBodySize is the largest POST/PUT body accepted.
const MaxBodySize = 1000000

// Server API versions served (chef-api.md §6).
const (
	minAPIVersion = 0
	maxAPIVersion = 2
)

var (
	orgNameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,254}$`)
	fullNameRE   = regexp.MustCompile(`^\S.*$`) // and at most 1023 characters
	userNameRE   = regexp.MustCompile(`^[a-z0-9\-_]+$`)
	clientNameRE = regexp.MustCompile(`^[.[:alnum:]_-]+$`)
	groupNameRE  = regexp.MustCompile(`^[a-z0-9\-_]+$`)
	keyNameRE    = regexp.MustCompile(`^[.[:alnum:]_-]+$`)
	emailRE      = regexp.MustCompile(`^[^@\s]+@[^@\s]+$`)
)

type handler struct{ d *Directory }

// route is a matched Chef API resource.
type route struct {
	kind    string
	org     string
	name    string // user, client, group or principal
	key     string
	methods []string
}

var (
	getPost       = []string{"GET", "POST"}
	getPutDelete  = []string{"GET", "PUT", "DELETE"}
	getDelete     = []string{"GET", "DELETE"}
	getOnly       = []string{"GET"}
	errNotMatched = errors.New("no route")
)

func match(path string) (route, error) {
	p := strings.TrimSuffix(strings.TrimPrefix(path, "/"), "/")
	parts := strings.Split(p, "/")
	for _, s := range parts {
		if s == "" {
			return route{}, errNotMatched
		}
	}
	n := len(parts)
	switch {
	case n == 1 && parts[0] == "server_api_version":
		return route{kind: "server_api_version", methods: getOnly}, nil
	case parts[0] == "users":
		switch {
		case n == 1:
			return route{kind: "users", methods: getPost}, nil
		case n == 2:
			return route{kind: "user", name: parts[1], methods: getPutDelete}, nil
		case n == 3 && parts[2] == "keys":
			return route{kind: "user_keys", name: parts[1], methods: getPost}, nil
		case n == 4 && parts[2] == "keys":
			return route{kind: "user_key", name: parts[1], key: parts[3], methods: getPutDelete}, nil
		}
	case parts[0] == "organizations":
		if n == 1 {
			return route{kind: "orgs", methods: getPost}, nil
		}
		r := route{org: parts[1]}
		if n == 2 {
			r.kind, r.methods = "org", getDelete
			return r, nil
		}
		rest := parts[2:]
		if len(rest) >= 2 {
			r.name = rest[1]
		}
		switch {
		case len(rest) == 1 && rest[0] == "users":
			r.kind, r.methods = "org_users", getPost
		case len(rest) == 2 && rest[0] == "users":
			r.kind, r.methods = "org_user", getDelete
		case len(rest) == 3 && rest[0] == "users" && rest[2] == "keys":
			r.kind, r.methods = "org_user_keys", getOnly
		case len(rest) == 4 && rest[0] == "users" && rest[2] == "keys":
			r.kind, r.key, r.methods = "org_user_key", rest[3], getOnly
		case len(rest) == 1 && rest[0] == "clients":
			r.kind, r.methods = "clients", getPost
		case len(rest) == 2 && rest[0] == "clients":
			r.kind, r.methods = "client", getPutDelete
		case len(rest) == 3 && rest[0] == "clients" && rest[2] == "keys":
			r.kind, r.methods = "client_keys", getPost
		case len(rest) == 4 && rest[0] == "clients" && rest[2] == "keys":
			r.kind, r.key, r.methods = "client_key", rest[3], getPutDelete
		case len(rest) == 1 && rest[0] == "groups":
			r.kind, r.methods = "groups", getPost
		case len(rest) == 2 && rest[0] == "groups":
			r.kind, r.methods = "group", getPutDelete
		case len(rest) == 2 && rest[0] == "principals":
			r.kind, r.methods = "principal", getOnly
		default:
			return route{}, errNotMatched
		}
		return r, nil
	}
	return route{}, errNotMatched
}

// requestor is the authenticated user or client of a request.
type requestor struct {
	name, kind string
	key        string // name of the key that verified the signature
	validator  bool
}

func (q *requestor) superuser() bool { return q.kind == TypeUser && q.name == SuperuserName }

func (q *requestor) principal() *Principal { return &Principal{Name: q.name, Type: q.kind} }

// call is one request going through the pipeline.
type call struct {
	d      *Directory
	w      http.ResponseWriter
	r      *http.Request
	ctx    context.Context
	rt     route
	api    int
	body   []byte
	parsed *chefauth.Parsed
	who    *requestor
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &call{d: h.d, w: w, r: r, ctx: r.Context()}
	if !c.negotiateVersion() {
		return
	}
	rt, err := match(r.URL.Path)
	if err != nil {
		c.errors(http.StatusNotFound, "Not Found")
		return
	}
	c.rt = rt
	if !contains(rt.methods, r.Method) {
		w.Header().Set("Allow", strings.Join(rt.methods, ", "))
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if rt.kind == "principal" { // unauthenticated (chef-api.md §2.12)
		c.principal()
		return
	}
	if !c.checkHeaders() || !c.readBody() || !c.checkOrg() {
		return
	}
	switch rt.kind {
	case "server_api_version":
		if c.authenticate() {
			c.json(http.StatusOK, map[string]int{"min_api_version": minAPIVersion, "max_api_version": maxAPIVersion})
		}
	case "users":
		if r.Method == http.MethodPost {
			c.createUser()
		} else {
			c.listUsers()
		}
	case "user":
		c.namedUser()
	case "orgs":
		if r.Method == http.MethodPost {
			c.createOrg()
		} else {
			c.listOrgs()
		}
	case "org":
		c.namedOrg()
	case "org_users":
		if r.Method == http.MethodPost {
			c.associateUser()
		} else {
			c.listOrgUsers()
		}
	case "org_user":
		c.namedOrgUser()
	case "clients":
		if r.Method == http.MethodPost {
			c.createClient()
		} else {
			c.listClients()
		}
	case "client":
		c.namedClient()
	case "groups":
		if r.Method == http.MethodPost {
			c.createGroup()
		} else {
			c.listGroups()
		}
	case "group":
		c.namedGroup()
	case "user_keys", "client_keys", "org_user_keys":
		c.keys()
	case "user_key", "client_key", "org_user_key":
		c.namedKey()
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// negotiateVersion reads X-Ops-Server-API-Version (missing = 0) and sets the response header
// every reply carries; an unsupported version is 406.
func (c *call) negotiateVersion() bool {
	raw := c.r.Header.Get("X-Ops-Server-API-Version")
	v, reqV := 0, "0"
	ok := true
	if raw != "" {
		n, err := strconv.Atoi(strings.TrimSpace(raw))
		switch {
		case err != nil:
			ok, reqV = false, "-1"
		case n < minAPIVersion || n > maxAPIVersion:
			ok, reqV = false, strconv.Itoa(n)
		default:
			v, reqV = n, strconv.Itoa(n)
		}
	}
	respV := reqV
	if !ok {
		respV = "-1"
	}
	c.w.Header().Set("X-Ops-Server-API-Version", fmt.Sprintf(`{"min_version":"%d","max_version":"%d","request_version":"%s","response_version":"%s"}`, minAPIVersion, maxAPIVersion, reqV, respV))
	if !ok {
		c.json(http.StatusNotAcceptable, orderedObject{
			{"error", "invalid-x-ops-server-api-version"},
			{"message", "Specified version " + raw + " not supported"},
			{"min_version", minAPIVersion},
			{"max_version", maxAPIVersion},
		})
		return false
	}
	c.api = v
	return true
}

// checkHeaders validates the signing headers (chef_authn's validate_headers) with the
// directory's clock and skew.
func (c *call) checkHeaders() bool {
	p, err := c.d.parseHeaders(c.r.Header)
	if err != nil {
		var ae *chefauth.Error
		if errors.As(err, &ae) {
			c.errors(ae.Status, ae.Message)
		} else {
			c.errors(http.StatusBadRequest, err.Error())
		}
		return false
	}
	c.parsed = p
	return true
}

func (d *Directory) parseHeaders(h http.Header) (*chefauth.Parsed, error) {
	now := d.now()
	if d.skew == chefauth.AuthSkew {
		return chefauth.ParseHeaders(h, now)
	}
	p, err := chefauth.ParseHeaders(h, now)
	var ae *chefauth.Error
	clock := func(user string) error {
		return &chefauth.Error{Status: http.StatusUnauthorized, Message: "Failed to authenticate as " + user + ". Synchronize the clock on your host."}
	}
	switch {
	case err == nil:
		if absDur(now.Sub(p.Timestamp)).Truncate(time.Second) >= d.skew {
			return nil, clock(p.UserID)
		}
		return p, nil
	case errors.As(err, &ae) && d.skew > chefauth.AuthSkew && strings.HasSuffix(ae.Message, "Synchronize the clock on your host."):
		// Outside chefauth's window but maybe inside ours: check again at the request's own time.
		ts, perr := time.Parse(chefauth.TimestampLayout, h.Get("X-Ops-Timestamp"))
		if perr != nil || absDur(now.Sub(ts)).Truncate(time.Second) >= d.skew {
			return nil, err
		}
		return chefauth.ParseHeaders(h, ts)
	}
	return nil, err
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func (c *call) readBody() bool {
	if c.r.Method != http.MethodPost && c.r.Method != http.MethodPut {
		return true
	}
	b, err := io.ReadAll(io.LimitReader(c.r.Body, MaxBodySize+1))
	if err != nil {
		c.errors(http.StatusBadRequest, "could not read request body")
		return false
	}
	if len(b) > MaxBodySize {
		c.json(http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("JSON must be no more than %d bytes.", MaxBodySize)})
		return false
	}
	c.body = b
	return true
}

// checkOrg answers 404 for an org-scoped path of an unknown org.
func (c *call) checkOrg() bool {
	if c.rt.org == "" {
		return true
	}
	o, err := c.d.orgRec(c.ctx, c.rt.org)
	if err != nil {
		c.internal(err)
		return false
	}
	if !o.exists {
		c.errors(http.StatusNotFound, fmt.Sprintf("organization '%s' does not exist.", c.rt.org))
		return false
	}
	return true
}

// authenticate verifies the signature against the unexpired keys of the org's client of that
// name, then of the user of that name (users only outside orgs), and for org paths requires
// the requestor to belong to the org (clients do; users must be associated; the superuser
// passes).
func (c *call) authenticate() bool {
	name := c.parsed.UserID
	now := c.d.now()
	type candidate struct {
		kind string
		rec  *actorRec
	}
	var cands []candidate
	if c.rt.org != "" {
		cl, err := c.d.clientRec(c.ctx, c.rt.org, name)
		if err != nil {
			c.internal(err)
			return false
		}
		if cl.exists {
			cands = append(cands, candidate{TypeClient, cl})
		}
	}
	u, err := c.d.userRec(c.ctx, name)
	if err != nil {
		c.internal(err)
		return false
	}
	if u.exists {
		cands = append(cands, candidate{TypeUser, u})
	}
	anyKey := false
	for _, cand := range cands {
		for _, k := range cand.rec.liveKeys(now) {
			anyKey = true
			if c.parsed.Verify(c.r.Method, c.r.URL.Path, c.body, []*rsa.PublicKey{k.pub}) {
				c.who = &requestor{name: name, kind: cand.kind, key: k.name, validator: cand.kind == TypeClient && cand.rec.validator}
				break
			}
		}
		if c.who != nil {
			break
		}
	}
	if c.who == nil {
		c.w.Header().Set("WWW-Authenticate", chefauth.WWWAuthenticate)
		if !anyKey {
			c.errors(http.StatusUnauthorized, fmt.Sprintf("Failed to authenticate as '%s'. Ensure that your node_name and client key are correct.", name))
		} else {
			c.errors(http.StatusUnauthorized, fmt.Sprintf("Invalid signature for user or client '%s'", name))
		}
		return false
	}
	if c.rt.org != "" && c.who.kind == TypeUser && !c.who.superuser() {
		m, err := c.d.memberRec(c.ctx, c.rt.org, name)
		if err != nil {
			c.internal(err)
			return false
		}
		if !m {
			c.errors(http.StatusForbidden, fmt.Sprintf("'%s' not associated with organization '%s'", name, c.rt.org))
			return false
		}
	}
	return true
}

// in reports whether the requestor is in the org's group (recursively).
func (c *call) in(group string) bool {
	m, _, err := c.d.IsMember(c.ctx, c.rt.org, group, c.who.principal())
	if err != nil {
		c.d.log.Warn("group lookup", "org", c.rt.org, "group", group, "err", err)
	}
	return m
}

// orgAdmin: the superuser or a member of the org's admins.
func (c *call) orgAdmin() bool { return c.who.superuser() || c.in(adminsGroup) }

// orgReader: the superuser or a member of admins or users.
func (c *call) orgReader() bool { return c.orgAdmin() || c.in(usersGroup) }

// permit answers 403 "missing PERM permission" unless ok.
func (c *call) permit(ok bool, perm string) bool {
	if !ok {
		c.errors(http.StatusForbidden, "missing "+perm+" permission")
	}
	return ok
}

// permFor is the permission an HTTP method needs.
func permFor(method string) string {
	switch method {
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodDelete:
		return "delete"
	}
	return "read"
}

// ---- request bodies ----

// object decodes the body as a JSON object; anything else is 400 "invalid JSON".
func (c *call) object() (jsonObject, bool) {
	var o map[string]any
	dec := json.NewDecoder(strings.NewReader(string(c.body)))
	dec.UseNumber()
	if err := dec.Decode(&o); err != nil || o == nil || dec.More() {
		c.errors(http.StatusBadRequest, "invalid JSON")
		return nil, false
	}
	return o, true
}

type jsonObject map[string]any

// str returns a string field: present reports the key exists, ok that it is a string.
func (o jsonObject) str(k string) (v string, present, ok bool) {
	raw, present := o[k]
	if !present {
		return "", false, false
	}
	v, ok = raw.(string)
	return v, true, ok
}

// boolean returns a boolean field (false when absent); ok is false for another type.
func (o jsonObject) boolean(k string) (v, ok bool) {
	raw, present := o[k]
	if !present || raw == nil {
		return false, true
	}
	v, ok = raw.(bool)
	return v, ok
}

func (o jsonObject) has(k string) bool { _, ok := o[k]; return ok }

// requireString checks a required string field against re (nil = any), answering 400
// "Field 'K' missing" or "Field 'K' invalid".
func (c *call) requireString(o jsonObject, k string, re *regexp.Regexp) (string, bool) {
	v, present, ok := o.str(k)
	switch {
	case !present:
		c.errors(http.StatusBadRequest, fmt.Sprintf("Field '%s' missing", k))
		return "", false
	case !ok || (re != nil && !re.MatchString(v)):
		c.errors(http.StatusBadRequest, fmt.Sprintf("Field '%s' invalid", k))
		return "", false
	}
	return v, true
}

// optionalString checks an optional string field.
func (c *call) optionalString(o jsonObject, k string) (string, bool) {
	v, present, ok := o.str(k)
	if present && !ok && o[k] != nil {
		c.errors(http.StatusBadRequest, fmt.Sprintf("Field '%s' invalid", k))
		return "", false
	}
	return v, true
}

// ---- responses ----

// orderedObject marshals as a JSON object with keys in the given order.
type orderedObject []kv

type kv struct {
	k string
	v any
}

func (o orderedObject) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.k)
		v, err := json.Marshal(f.v)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

func (c *call) json(status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.internal(err)
		return
	}
	c.raw(status, b)
}

func (c *call) raw(status int, b []byte) {
	c.w.Header().Set("Content-Type", "application/json")
	c.w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	c.w.WriteHeader(status)
	_, _ = c.w.Write(b)
}

// errors writes the usual error shape {"error": [msg]}.
func (c *call) errors(status int, msg string) {
	c.json(status, map[string][]string{"error": {msg}})
}

// errorString writes the shape some endpoints use: {"error": msg}.
func (c *call) errorString(status int, msg string) {
	c.json(status, map[string]string{"error": msg})
}

func (c *call) internal(err error) {
	c.d.log.Error("Chef API request failed", "method", c.r.Method, "path", c.r.URL.Path, "err", err)
	c.errors(http.StatusInternalServerError, "internal service error")
}

// created answers 201 with a Location header.
func (c *call) created(uri string, v any) {
	c.w.Header().Set("Location", uri)
	c.json(http.StatusCreated, v)
}

// base is scheme://host of the request, which uri fields are built from.
func (c *call) base() string {
	scheme := "http"
	if c.r.TLS != nil {
		scheme = "https"
	}
	if p := c.r.Header.Get("X-Forwarded-Proto"); p != "" {
		scheme = p
	}
	return scheme + "://" + c.r.Host
}

func (c *call) orgURL() string { return c.base() + "/organizations/" + c.rt.org }
