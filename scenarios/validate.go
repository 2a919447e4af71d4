package scenarios

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"
)

// MaxFileSize is the largest job file the Push Jobs API accepts (protocol.md §2.5).
const MaxFileSize = 100000

// MaxNodes bounds the nodes of one group.
const MaxNodes = 1_000_000

var (
	metadataNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	groupNameRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	labelValueRE   = regexp.MustCompile(`^[A-Za-z0-9_.:/-]+$`)
	imageRefRE     = regexp.MustCompile(ImageRefPattern)
)

// ImageRefPattern is what target.image accepts: a Docker image reference,
// [HOST[:PORT]/]NAME[:TAG][@sha256:DIGEST], with a lower-case name.
const ImageRefPattern = `^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]+)?/)?` +
	`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*` +
	`(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$`

// Validate checks what the scenario means, once it has decoded: references to groups, jobs
// and faults, quorum against node counts, ranges, durations, thresholds against the metrics,
// and behaviours through b (nil accepts any behaviour). It returns an *ErrorList or nil.
func (s *Scenario) Validate(b Behaviours) error {
	v := &validator{s: s, b: b, errs: &ErrorList{}}
	v.run()
	return v.errs.err()
}

type jobRef struct {
	step int
	spec *JobSpec
}

type validator struct {
	s    *Scenario
	b    Behaviours
	errs *ErrorList

	nodes      []Node // every node, with the behaviours and faults that may apply to it
	nodeNames  map[string]bool
	groups     map[string]*Group
	labelKeys  map[string]bool
	behaviours map[string]bool
	faults     map[string]int // name -> step
	jobs       map[string]jobRef
	jobSteps   map[string]int  // every named job and load template, by step
	fleetOK    bool            // the fleet validated cleanly, so node counts mean something
	absent     map[string]bool // names given in absentNodes
}

// Pos is the position of the value at path (e.g. timeline[2].job.quorum), or of its nearest
// ancestor that has one; the zero Pos when none has.
func (s *Scenario) Pos(path string) Pos {
	for {
		if p, ok := s.pos[path]; ok {
			return p
		}
		if p, ok := s.keyPos[path]; ok {
			return p
		}
		if path == "" {
			return Pos{}
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			path = ""
		} else {
			path = path[:i]
		}
	}
}

// KeyPos is the position of the key that ends path, falling back to Pos.
func (s *Scenario) KeyPos(path string) Pos {
	if p, ok := s.keyPos[path]; ok {
		return p
	}
	return s.Pos(path)
}

func (v *validator) errorf(path, format string, args ...any) {
	v.errs.add(v.s.File, v.s.Pos(path), path, format, args...)
}

func (v *validator) keyErrorf(path, format string, args ...any) {
	v.errs.add(v.s.File, v.s.KeyPos(path), path, format, args...)
}

func (v *validator) run() {
	s := v.s
	if s.APIVersion != APIVersion {
		v.errorf("apiVersion", "must be %q, not %q", APIVersion, s.APIVersion)
	}
	if s.Kind != Kind {
		v.errorf("kind", "must be %q, not %q", Kind, s.Kind)
	}
	if !metadataNameRE.MatchString(s.Metadata.Name) {
		v.errorf("metadata.name", "%q is not a valid name: use lower-case letters, digits and dashes", s.Metadata.Name)
	}
	v.positive("timeout", s.Timeout)
	v.target()
	before := v.errs.Len()
	v.fleet()
	v.fleetOK = v.errs.Len() == before && len(v.nodes) > 0
	v.collectFaults()
	v.absent = map[string]bool{}
	v.jobSteps = map[string]int{}
	for i, st := range s.Timeline {
		for _, j := range []*JobSpec{st.Job, loadJob(st.Load)} {
			if _, dup := v.jobSteps[j.nameOrEmpty()]; j != nil && j.Name != "" && !dup {
				v.jobSteps[j.Name] = i
			}
		}
		if st.Job != nil {
			for _, n := range st.Job.AbsentNodes {
				v.absent[n] = true
			}
		}
		if st.Load != nil {
			for _, n := range st.Load.Job.AbsentNodes {
				v.absent[n] = true
			}
		}
	}
	v.timeline()
	v.thresholds(s.Thresholds)
}

func (v *validator) positive(path string, d *Duration) {
	if d != nil && *d <= 0 {
		v.errorf(path, "must be above zero, not %s", d)
	}
}

func (v *validator) notNegative(path string, d Duration) {
	if d < 0 {
		v.errorf(path, "must not be negative, not %s", d)
	}
}

func (v *validator) target() {
	t := v.s.Target
	if t.URL == "" {
		if t.Image != "" && (len(t.Image) > 255 || !imageRefRE.MatchString(t.Image)) {
			v.errorf("target.image", "%q is not an image reference: [HOST[:PORT]/]NAME[:TAG][@sha256:DIGEST], the name in lower case", t.Image)
		}
		for _, f := range []struct{ key, val string }{
			{"org", t.Org}, {"user", t.User}, {"key", t.Key}, {"superuser", t.Superuser},
			{"superuserKey", t.SuperuserKey}, {"clientKeysDir", t.ClientKeysDir},
		} {
			if f.val != "" {
				v.keyErrorf("target."+f.key, "applies only to a server given by url")
			}
		}
		if e := t.Embedded; e != nil {
			for _, f := range []struct {
				key string
				d   Duration
			}{
				{"heartbeatInterval", e.HeartbeatInterval}, {"votingTimeout", e.VotingTimeout},
				{"defaultRunTimeout", e.DefaultRunTimeout}, {"waitCompleteTime", e.WaitCompleteTime},
				{"keepAlive", e.KeepAlive}, {"orgFeedExpiration", e.OrgFeedExpiration},
				{"rehabInterval", e.RehabInterval}, {"configLifetime", e.ConfigLifetime},
				{"maxTimeSkew", e.MaxTimeSkew}, {"zapWindow", e.ZAPWindow},
			} {
				if f.d < 0 {
					v.errorf("target.embedded."+f.key, "must be above zero, not %s", f.d)
				}
			}
			if e.DefaultRunTimeout%Duration(time.Second) != 0 {
				v.errorf("target.embedded.defaultRunTimeout", "must be whole seconds, not %s", e.DefaultRunTimeout)
			}
			for _, f := range []struct {
				key string
				n   int
			}{{"decayWindow", e.DecayWindow}, {"detectOfflineNodesInterval", e.DetectOfflineNodesInterval}, {"maxMessageBody", e.MaxMessageBody}} {
				if f.n < 0 {
					v.errorf("target.embedded."+f.key, "must not be negative, not %d", f.n)
				}
			}
			if e.DownThreshold < 0 || e.DownThreshold >= 1 {
				v.errorf("target.embedded.downThreshold", "must be above 0 and below 1, not %v", e.DownThreshold)
			}
			if e.Org != "" && !groupNameRE.MatchString(e.Org) {
				v.errorf("target.embedded.org", "%q is not a valid organization name", e.Org)
			}
		}
		return
	}
	if t.Embedded != nil {
		v.keyErrorf("target.embedded", "a target is either embedded or a url, not both")
	}
	if t.Image != "" {
		v.keyErrorf("target.image", "a target is either a server pushlab starts (embedded, image) or a url, not both")
	}
	u, err := url.Parse(t.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.errorf("target.url", "%q is not an http(s) URL", t.URL)
	}
	for _, f := range []struct{ key, val string }{{"org", t.Org}, {"user", t.User}, {"key", t.Key}} {
		if f.val == "" {
			v.errorf("target", "a url target needs %s", f.key)
		}
	}
	switch {
	case t.SuperuserKey == "" && t.ClientKeysDir == "":
		v.errorf("target", "a url target needs superuserKey (to register the nodes' clients) or clientKeysDir (keys of registered clients)")
	case t.SuperuserKey != "" && t.ClientKeysDir != "":
		v.keyErrorf("target.clientKeysDir", "give superuserKey or clientKeysDir, not both")
	}
	if t.Superuser != "" && t.SuperuserKey == "" {
		v.keyErrorf("target.superuser", "needs superuserKey")
	}
}

func (v *validator) fleet() {
	f := &v.s.Fleet
	v.groups = map[string]*Group{}
	v.labelKeys = map[string]bool{}
	v.behaviours = map[string]bool{}
	v.nodeNames = map[string]bool{}
	v.positive("fleet.onlineTimeout", f.OnlineTimeout)
	if len(f.Groups) == 0 {
		v.errorf("fleet.groups", "the fleet needs at least one group")
	}
	owner := map[string]string{}
	for i := range f.Groups {
		g := &f.Groups[i]
		p := indexPath("fleet.groups", i)
		if !groupNameRE.MatchString(g.Name) {
			v.errorf(p+".name", "%q is not a valid group name: letters, digits, _ . and -", g.Name)
		} else if _, dup := v.groups[g.Name]; dup {
			v.errorf(p+".name", "group %q is defined twice", g.Name)
		} else {
			v.groups[g.Name] = g
		}
		if g.Count < 1 {
			v.errorf(p+".count", "must be at least 1, not %d", g.Count)
		} else if g.Count > MaxNodes {
			v.errorf(p+".count", "%d is above the %d nodes a scenario can hold", g.Count, MaxNodes)
		}
		parts, err := parseNamePattern(g.Pattern())
		switch {
		case err != nil:
			v.errorf(p+".namePattern", "%s", err.Error())
		case g.Count > 1 && !hasIndex(parts):
			v.errorf(p+".namePattern", "%q has no {index}, so the group's %d nodes would share one name", g.Pattern(), g.Count)
		case !validNodeName(renderName(parts, g.Name, 0)):
			v.errorf(p+".namePattern", "makes the node name %q; node names use letters, digits, _ . : and -", renderName(parts, g.Name, 0))
		}
		keys := make([]string, 0, len(g.Labels))
		for k := range g.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			lp := joinPath(p+".labels", k)
			switch {
			case isBuiltinKey(k):
				v.keyErrorf(lp, "%q is a built-in selector key and cannot be a label", k)
			case !isIdent(k):
				v.keyErrorf(lp, "label key %q: use letters, digits, _ and -", k)
			}
			if !labelValueRE.MatchString(g.Labels[k]) {
				v.errorf(lp, "label value %q: use letters, digits, _ . : / and -", g.Labels[k])
			}
			if !isBuiltinKey(k) {
				v.labelKeys[k] = true
			}
		}
		v.groupBehaviours(g, p)
		if err == nil && g.Count > 0 && g.Count <= MaxNodes {
			for j := 0; j < g.Count; j++ {
				name := renderName(parts, g.Name, j)
				if prev, dup := owner[name]; dup {
					v.errorf(p+".namePattern", "node name %q is also made by %s", name, prev)
					break
				}
				owner[name] = fmt.Sprintf("group %q", g.Name)
				behaviours := make([]string, 0, len(g.Behaviours))
				for _, b := range g.Behaviours {
					behaviours = append(behaviours, b.Name)
				}
				v.nodes = append(v.nodes, Node{Name: name, Group: g.Name, Index: j, Labels: g.Labels, Behaviours: behaviours})
				v.nodeNames[name] = true
			}
		}
	}
}

func (v *validator) groupBehaviours(g *Group, p string) {
	weighted, total := 0, 0.0
	for j, b := range g.Behaviours {
		bp := indexPath(p+".behaviours", j)
		if b.Weight != nil {
			weighted++
			total += *b.Weight
			if *b.Weight < 0 {
				v.errorf(bp+".weight", "must not be negative, not %v", *b.Weight)
			}
		}
		if b.Name == "" {
			v.errorf(bp+".name", "empty behaviour name")
			continue
		}
		v.behaviours[b.Name] = true
		if v.b == nil {
			continue
		}
		err := v.b.Validate(b.Name, b.Params)
		if err == nil {
			continue
		}
		for _, e := range flatten(err) {
			var pe *ParamError
			if errors.As(e, &pe) {
				pp := joinPath(bp+".params", pe.Param)
				if _, known := v.s.pos[pp]; known {
					v.errs.add(v.s.File, v.s.Pos(pp), pp, "%s", pe.Message)
					continue
				}
			}
			np := bp + ".name"
			if strings.Contains(e.Error(), "unknown behaviour") {
				v.errorf(np, "%s", e.Error())
			} else {
				v.errorf(bp, "behaviour %s: %s", b.Name, e.Error())
			}
		}
	}
	if weighted > 0 && total <= 0 {
		v.errorf(p+".behaviours", "the weights of the behaviours sum to zero")
	}
}

func flatten(err error) []error {
	if m, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range m.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// collectFaults learns every named fault first, so selectors anywhere may use fault=NAME.
func (v *validator) collectFaults() {
	v.faults = map[string]int{}
	for i, st := range v.s.Timeline {
		f := st.Fault
		if f == nil || f.Name == "" {
			continue
		}
		p := indexPath("timeline", i) + ".fault.name"
		if !isIdent(f.Name) {
			v.errorf(p, "%q is not a valid fault name: letters, digits, _ and -", f.Name)
			continue
		}
		if _, dup := v.faults[f.Name]; dup {
			v.errorf(p, "fault %q is defined twice", f.Name)
			continue
		}
		v.faults[f.Name] = i
		if vi := f.victims(); vi != nil {
			for k := range v.nodes {
				if mayMatchSet(vi.Nodes, v.nodes[k]) {
					v.nodes[k].Faults = append(v.nodes[k].Faults, f.Name)
				}
			}
		}
	}
}

func (f *FaultStep) victims() *Victims {
	switch {
	case f.Crash != nil:
		return &f.Crash.Victims
	case f.Restart != nil:
		return &f.Restart.Victims
	case f.Unavailable != nil:
		return &f.Unavailable.Victims
	case f.SkewClock != nil:
		return &f.SkewClock.Victims
	case f.Flap != nil:
		return &f.Flap.Victims
	}
	return nil
}

// Victims returns the node selection of a node fault, nil for a server fault.
func (f *FaultStep) Victims() *Victims { return f.victims() }

// selector checks one selector's references and returns how many nodes it may match (-1: unknown).
func (v *validator) selector(sel Selector, path string) int {
	pos := sel.pos
	if !pos.IsValid() {
		pos = v.s.Pos(path)
	}
	bad := false
	fail := func(format string, args ...any) {
		v.errs.add(v.s.File, pos, path, format, args...)
		bad = true
	}
	for _, t := range sel.Terms {
		glob := strings.ContainsAny(t.Value, "*?[")
		switch t.Key {
		case "", KeyName:
			if v.fleetOK && !glob && t.Op == "==" && !v.nodeNames[t.Value] && !v.absent[t.Value] {
				fail("no node of the fleet is named %q", t.Value)
			}
		case KeyGroup:
			if _, ok := v.groups[t.Value]; !ok && !glob {
				fail("selector %q: no group is named %q", sel.Text, t.Value)
			}
		case KeyIndex:
		case KeyBehaviour:
			if !glob && !v.behaviours[t.Value] {
				fail("selector %q: no group has the behaviour %q", sel.Text, t.Value)
			}
		case KeyFault:
			if _, ok := v.faults[t.Value]; !ok && !glob {
				fail("selector %q: no fault is named %q", sel.Text, t.Value)
			}
		default:
			if !v.labelKeys[t.Key] {
				keys := append([]string{}, builtinKeys...)
				for k := range v.labelKeys {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				fail("selector %q: no group has the label %q; keys: %s", sel.Text, t.Key, strings.Join(keys, ", "))
			}
		}
	}
	if bad || !v.fleetOK {
		return -1
	}
	n := 0
	for _, node := range v.nodes {
		if mayMatch(sel, node) {
			n++
		}
	}
	if n == 0 && !v.onlyAbsent(sel) {
		fail("selector %q matches no node of the fleet", sel.Text)
		return -1
	}
	return n
}

// onlyAbsent reports whether the selector is a plain name listed in some job's absentNodes.
func (v *validator) onlyAbsent(sel Selector) bool {
	return len(sel.Terms) == 1 && (sel.Terms[0].Key == "" || sel.Terms[0].Key == KeyName) && v.absent[sel.Terms[0].Value]
}

// mayMatch is Match where behaviours and faults are only known as possibilities: the node's
// Behaviours and Faults list what may apply to it, so a term on them may hold either way
// unless no possibility fits.
func mayMatch(sel Selector, n Node) bool {
	if sel.All {
		return true
	}
	for _, t := range sel.Terms {
		switch t.Key {
		case KeyBehaviour, KeyFault:
			if t.Op == "!=" {
				continue
			}
		}
		if !t.match(n) {
			return false
		}
	}
	return true
}

// nodeSet checks every selector and returns how many distinct nodes the set may match (-1 unknown).
func (v *validator) nodeSet(ns NodeSet, path string) int {
	ok := true
	for i, sel := range ns {
		p := sel.path
		if p == "" {
			p = path
			if len(ns) > 1 {
				p = indexPath(path, i)
			}
		}
		if v.selector(sel, p) < 0 {
			ok = false
		}
	}
	if !ok || !v.fleetOK {
		return -1
	}
	n := 0
	for _, node := range v.nodes {
		if mayMatchSet(ns, node) {
			n++
		}
	}
	return n
}

func mayMatchSet(ns NodeSet, n Node) bool {
	for _, sel := range ns {
		if mayMatch(sel, n) {
			return true
		}
	}
	return false
}

func (v *validator) timeline() {
	v.jobs = map[string]jobRef{}
	if len(v.s.Timeline) == 0 {
		v.errorf("timeline", "the timeline needs at least one step")
	}
	var lastAt Duration
	for i := range v.s.Timeline {
		st := &v.s.Timeline[i]
		p := indexPath("timeline", i)
		var actions []string
		for _, a := range []struct {
			name string
			set  bool
		}{{"job", st.Job != nil}, {"load", st.Load != nil}, {"wait", st.Wait != nil}, {"sleep", st.Sleep != nil}, {"fault", st.Fault != nil}, {"expect", st.Expect != nil}} {
			if a.set {
				actions = append(actions, a.name)
			}
		}
		v.byKeyPos(p, actions)
		switch len(actions) {
		case 0:
			v.errorf(p, "a step needs one of job, load, wait, sleep, fault or expect")
		case 1:
		default:
			v.keyErrorf(p+"."+actions[1], "a step holds one action; this one already has %s (make another step)", actions[0])
		}
		if st.At != nil {
			switch {
			case *st.At < 0:
				v.errorf(p+".at", "must not be negative, not %s", st.At)
			case *st.At < lastAt:
				v.errorf(p+".at", "%s is earlier than the %s of a step before it; steps run in order", st.At, lastAt)
			default:
				lastAt = *st.At
			}
		}
		switch {
		case st.Job != nil:
			v.job(st.Job, p+".job", i, false)
		case st.Load != nil:
			v.load(st.Load, p+".load", i)
		case st.Wait != nil:
			v.wait(st.Wait, p+".wait", i)
		case st.Sleep != nil:
			v.positive(p+".sleep", st.Sleep)
		case st.Fault != nil:
			v.fault(st.Fault, p+".fault")
		case st.Expect != nil:
			v.expectStep(st.Expect, p+".expect")
		}
	}
}

// byKeyPos orders sibling keys of path as they appear in the file.
func (v *validator) byKeyPos(path string, keys []string) {
	sort.SliceStable(keys, func(i, j int) bool {
		a, b := v.s.KeyPos(path+"."+keys[i]), v.s.KeyPos(path+"."+keys[j])
		return a.Line < b.Line || a.Line == b.Line && a.Column < b.Column
	})
}

func (v *validator) defineJob(spec *JobSpec, path string, step int) {
	if spec.Name == "" {
		return
	}
	if !isIdent(spec.Name) {
		v.errorf(path+".name", "%q is not a valid job name: letters, digits, _ and -", spec.Name)
		return
	}
	if prev, dup := v.jobs[spec.Name]; dup {
		v.errorf(path+".name", "job %q is already defined at step %d", spec.Name, prev.step+1)
		return
	}
	v.jobs[spec.Name] = jobRef{step: step, spec: spec}
}

// job checks a job spec and returns how many fleet nodes it may go to (-1: unknown).
func (v *validator) job(j *JobSpec, path string, step int, inLoad bool) int {
	v.defineJob(j, path, step)
	n := 0
	if len(j.Nodes) == 0 && len(j.AbsentNodes) == 0 {
		v.errorf(path, "a job needs nodes (or absentNodes)")
	}
	for i, sel := range j.Nodes {
		if v.onlyAbsent(sel) {
			p := sel.path
			if p == "" {
				p = indexPath(path+".nodes", i)
			}
			v.errs.add(v.s.File, v.s.Pos(p), p, "node %q is not in the fleet; list it under absentNodes", sel.Text)
			n = -1
		}
	}
	if len(j.Nodes) > 0 && n == 0 {
		n = v.nodeSet(j.Nodes, path+".nodes")
	}
	for k, name := range j.AbsentNodes {
		ap := indexPath(path+".absentNodes", k)
		switch {
		case !validNodeName(name):
			v.errorf(ap, "%q is not a valid node name", name)
		case v.nodeNames[name]:
			v.errorf(ap, "node %q is in the fleet; list it under nodes", name)
		}
	}
	if n >= 0 {
		total := n + len(j.AbsentNodes)
		if j.Quorum != nil && !j.Quorum.IsPercent && j.Quorum.Count > total {
			v.errorf(path+".quorum", "quorum %d is more than the job's %d nodes", j.Quorum.Count, total)
		}
	}
	if j.RunTimeout != nil {
		switch {
		case *j.RunTimeout < 0:
			v.errorf(path+".runTimeout", "must not be negative, not %s", j.RunTimeout)
		case *j.RunTimeout%Duration(time.Second) != 0:
			v.errorf(path+".runTimeout", "must be whole seconds (the API takes an integer), not %s", j.RunTimeout)
		}
	}
	for k := range j.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			v.keyErrorf(joinPath(path+".env", k), "invalid environment variable name %q", k)
		}
	}
	if j.File != "" {
		v.file(j.File, path+".file")
	}
	v.positive(path+".timeout", j.Timeout)
	if inLoad && j.NoWait {
		v.keyErrorf(path+".nowait", "has no meaning in a load template")
	}
	if j.Expect != nil {
		if j.Expect.Job != "" {
			v.keyErrorf(path+".expect.job", "an expect inside a job step refers to that job; remove job")
		}
		v.expectation(j.Expect, path+".expect", j)
	}
	return n
}

func (v *validator) file(f, path string) {
	switch {
	case strings.HasPrefix(f, "raw:"):
		if len(f)-4 > MaxFileSize {
			v.errorf(path, "the file is %d bytes; the API takes at most %d", len(f)-4, MaxFileSize)
		}
	case strings.HasPrefix(f, "base64:"):
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(f[7:]))
		if err != nil {
			v.errorf(path, "the base64 file does not decode: %v", err)
		} else if len(b) > MaxFileSize {
			v.errorf(path, "the file is %d bytes; the API takes at most %d", len(b), MaxFileSize)
		}
	default:
		v.errorf(path, "must start with raw: or base64:")
	}
}

func (v *validator) load(l *LoadStep, path string, step int) {
	switch {
	case l.Rate == nil && l.Concurrency == 0:
		v.errorf(path, "a load needs rate (open loop) or concurrency (closed loop)")
	case l.Rate != nil && l.Concurrency != 0:
		v.keyErrorf(path+".concurrency", "give rate or concurrency, not both")
	case l.Concurrency < 0:
		v.errorf(path+".concurrency", "must be at least 1, not %d", l.Concurrency)
	}
	if l.Duration <= 0 {
		v.errorf(path+".duration", "must be above zero, not %s", l.Duration)
	}
	n := v.job(&l.Job, path+".job", step, true)
	if l.Sample < 0 {
		v.errorf(path+".sample", "must not be negative, not %d", l.Sample)
	} else if l.Sample > 0 {
		if n >= 0 && l.Sample > n {
			v.errorf(path+".sample", "%d is more than the %d nodes the job template selects", l.Sample, n)
		}
		if q := l.Job.Quorum; q != nil && !q.IsPercent && q.Count > l.Sample+len(l.Job.AbsentNodes) {
			v.errorf(path+".job.quorum", "quorum %d is more than the %d nodes of each sampled job", q.Count, l.Sample+len(l.Job.AbsentNodes))
		}
	}
}

func (v *validator) jobBefore(name, path string, step int) *jobRef {
	ref, ok := v.jobs[name]
	if !ok {
		if later, ok := v.jobSteps[name]; ok && later > step {
			v.errorf(path, "job %q is started only at step %d, after this one", name, later+1)
			return nil
		}
		v.errorf(path, "no job named %q is started before this step", name)
		return nil
	}
	if ref.step > step {
		v.errorf(path, "job %q is started only at step %d, after this one", name, ref.step+1)
		return nil
	}
	return &ref
}

func loadJob(l *LoadStep) *JobSpec {
	if l == nil {
		return nil
	}
	return &l.Job
}

func (j *JobSpec) nameOrEmpty() string {
	if j == nil {
		return ""
	}
	return j.Name
}

func (v *validator) wait(w *WaitStep, path string, step int) {
	v.positive(path+".timeout", w.Timeout)
	c := w.For
	switch c.Kind {
	case CondJob:
		v.jobBefore(c.Job, path+".for", step)
	case CondNodes:
		if !c.Selector.All {
			v.selector(c.Selector, path+".for")
		}
	}
}

func (v *validator) fault(f *FaultStep, path string) {
	var kinds []string
	for _, k := range []struct {
		name string
		set  bool
	}{
		{"crash", f.Crash != nil}, {"restart", f.Restart != nil}, {"unavailable", f.Unavailable != nil},
		{"skewClock", f.SkewClock != nil}, {"flap", f.Flap != nil}, {"serverRestart", f.ServerRestart != nil},
		{"serverPause", f.ServerPause != nil},
	} {
		if k.set {
			kinds = append(kinds, k.name)
		}
	}
	v.byKeyPos(path, kinds)
	switch len(kinds) {
	case 0:
		v.errorf(path, "a fault needs one of crash, restart, unavailable, skewClock, flap, serverRestart or serverPause")
		return
	case 1:
	default:
		v.keyErrorf(path+"."+kinds[1], "a fault step holds one fault; this one already has %s (make another step)", kinds[0])
		return
	}
	kp := path + "." + f.Kind()
	if vi := f.victims(); vi != nil {
		v.victims(vi, kp)
	}
	switch {
	case f.Crash != nil:
		v.positive(kp+".duration", f.Crash.Duration)
	case f.Restart != nil:
		if f.Restart.Duration != nil {
			v.notNegative(kp+".duration", *f.Restart.Duration)
		}
	case f.Unavailable != nil:
		v.positive(kp+".duration", &f.Unavailable.Duration)
		v.mode(f.Unavailable.Mode, kp+".mode")
	case f.SkewClock != nil:
		if f.SkewClock.Offset == 0 {
			v.errorf(kp+".offset", "must not be zero")
		}
		v.positive(kp+".duration", f.SkewClock.Duration)
	case f.Flap != nil:
		v.positive(kp+".duration", &f.Flap.Duration)
		v.positive(kp+".period", &f.Flap.Period)
		if f.Flap.Period > 0 && f.Flap.Duration > 0 && f.Flap.Period >= f.Flap.Duration {
			v.errorf(kp+".period", "%s is not shorter than the flap's duration %s", f.Flap.Period, f.Flap.Duration)
		}
		v.mode(f.Flap.Mode, kp+".mode")
	case f.ServerRestart != nil:
		if f.ServerRestart.Downtime != nil {
			v.notNegative(kp+".downtime", *f.ServerRestart.Downtime)
		}
	case f.ServerPause != nil:
		v.positive(kp+".duration", &f.ServerPause.Duration)
	}
	if (f.ServerRestart != nil || f.ServerPause != nil) && !v.s.Target.IsEmbedded() {
		v.keyErrorf(kp, "%s needs the embedded or image target: pushlab can restart or pause only a server it started", kinds[0])
	}
}

func (v *validator) mode(m, path string) {
	if m != "" && m != "silent" && m != "disconnect" {
		v.errorf(path, "must be silent or disconnect, not %q", m)
	}
}

func (v *validator) victims(vi *Victims, path string) {
	n := v.nodeSet(vi.Nodes, path+".nodes")
	if vi.Count != 0 && vi.Percent != nil {
		v.keyErrorf(path+".percent", "give count or percent, not both")
	}
	if vi.Count < 0 {
		v.errorf(path+".count", "must be at least 1, not %d", vi.Count)
	} else if n >= 0 && vi.Count > n {
		v.errorf(path+".count", "%d is more than the %d nodes selected", vi.Count, n)
	}
	if vi.Percent != nil && (*vi.Percent <= 0 || *vi.Percent > 100) {
		v.errorf(path+".percent", "must be above 0 and at most 100, not %v", *vi.Percent)
	}
}

func (v *validator) expectStep(e *Expectation, path string) {
	step := 0
	fmt.Sscanf(path, "timeline[%d]", &step)
	var spec *JobSpec
	if e.Job != "" {
		if ref := v.jobBefore(e.Job, path+".job", step); ref != nil {
			spec = ref.spec
		}
	} else if len(e.Status) > 0 || len(e.Nodes) > 0 || e.SSE != nil || len(e.Outputs) > 0 {
		v.errorf(path, "an expect step about a job needs job: NAME")
	} else if len(e.Thresholds) == 0 {
		v.errorf(path, "an expect step needs job: NAME or thresholds")
	}
	v.expectation(e, path, spec)
}

func (v *validator) expectation(e *Expectation, path string, spec *JobSpec) {
	for i, st := range e.Status {
		if !contains(FinalJobStatuses, st) {
			p := path + ".status"
			if len(e.Status) > 1 {
				p = indexPath(p, i)
			}
			v.errorf(p, "%q is not a final job status; use %s", st, strings.Join(FinalJobStatuses, ", "))
		}
	}
	for _, ne := range e.Nodes {
		v.selector(ne.Selector, ne.path)
		for i, st := range ne.Status {
			if !contains(FinalNodeStatuses, st) {
				p := ne.path
				if len(ne.Status) > 1 {
					p = indexPath(p, i)
				}
				v.errorf(p, "%q is not a final node status; use %s", st, strings.Join(FinalNodeStatuses, ", "))
			}
		}
	}
	if s := e.SSE; s != nil {
		if s.ResumeAfter < 0 {
			v.errorf(path+".sse.resumeAfter", "must not be negative, not %d", s.ResumeAfter)
		}
	}
	for i, o := range e.Outputs {
		op := indexPath(path+".outputs", i)
		v.nodeSet(o.Nodes, op+".nodes")
		switch {
		case o.Absent && (o.Stdout != nil || o.Stderr != nil):
			v.keyErrorf(op+".absent", "absent excludes stdout and stderr")
		case !o.Absent && o.Stdout == nil && o.Stderr == nil:
			v.errorf(op, "an output expectation needs stdout, stderr or absent: true")
		}
		if !o.Absent && spec != nil && !spec.Capture {
			v.errorf(op, "the job does not set capture: true, so its nodes send no output")
		}
	}
	v.thresholds(e.Thresholds)
	v.positive(path+".timeout", e.Timeout)
}

func (v *validator) thresholds(ts Thresholds) {
	for _, mt := range ts {
		m, ok := Metrics[mt.Metric]
		if !ok {
			v.errs.add(v.s.File, mt.pos, mt.path, "unknown metric %q; %s", mt.Metric, suggest(mt.Metric, MetricNames(), "metrics"))
			continue
		}
		tags := make([]string, 0, len(mt.Tags))
		for k := range mt.Tags {
			tags = append(tags, k)
		}
		sort.Strings(tags)
		for _, k := range tags {
			val := mt.Tags[k]
			switch k {
			case "job":
				if _, ok := v.jobs[val]; !ok {
					v.errs.add(v.s.File, mt.pos, mt.path, "tag job:%s names no job of the timeline", val)
				}
			case "group":
				if _, ok := v.groups[val]; !ok {
					v.errs.add(v.s.File, mt.pos, mt.path, "tag group:%s names no group of the fleet", val)
				}
			case "behaviour":
				if !v.behaviours[val] {
					v.errs.add(v.s.File, mt.pos, mt.path, "tag behaviour:%s names no behaviour of the fleet", val)
				}
			default:
				if !contains(ThresholdTags, k) {
					v.errs.add(v.s.File, mt.pos, mt.path, "unknown tag %q; tags: %s", k, strings.Join(ThresholdTags, ", "))
				}
			}
		}
		for _, th := range mt.Rules {
			if !m.Type.accepts(th.Agg) {
				v.errs.add(v.s.File, th.pos, th.path, "%s is a %s metric: thresholds on it use %s, not %s",
					mt.Metric, m.Type, strings.Join(m.Type.Aggregations(), ", "), th.AggName())
				continue
			}
			if th.IsDuration && !m.Time {
				v.errs.add(v.s.File, th.pos, th.path, "%s does not measure time; compare it with a number, not a duration", mt.Metric)
			}
			if m.Type == MetricRate && (th.Value < 0 || th.Value > 1) {
				v.errs.add(v.s.File, th.pos, th.path, "a rate is between 0 and 1, so %q never or always holds", th.Expr)
			}
			if th.DelayAbortEval < 0 {
				v.errs.add(v.s.File, th.pos, th.path, "delayAbortEval must not be negative")
			}
		}
	}
}
