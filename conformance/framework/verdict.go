package framework

import (
	"fmt"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
)

// NonStrictEntry names the report entry of a non-strict verdict.
const NonStrictEntry = "non-strict"

// Reading is how a target behaved on a point where the real server's code and its public docs
// disagree (protocol.md §11).
type Reading struct {
	Item     int    // the §11 item
	What     string // the point, e.g. "feed path"
	Observed string // what the target did
	Code     bool   // the target behaves as the real server's code
	Docs     bool   // the target behaves as the public docs say
}

// Judge gives the verdict of a reading under the run's profile: the profile's behaviour
// passes; the other documented behaviour is a non-strict pass (a failure with
// -conformance.strict); anything else fails.
func (s *Suite) Judge(r Reading) {
	ginkgo.GinkgoHelper()
	want, other, wantName, otherName := r.Code, r.Docs, "the pushy 3.0 code", "the public docs"
	if s.Config.Profile == ProfileDocs {
		want, other, wantName, otherName = r.Docs, r.Code, "the public docs", "the pushy 3.0 code"
	}
	switch {
	case want:
		return
	case other:
		msg := fmt.Sprintf("protocol.md §11 item %d (%s): the target follows %s, not %s (profile %s): %s",
			r.Item, r.What, otherName, wantName, s.Config.Profile, r.Observed)
		if s.Config.Strict {
			ginkgo.Fail(msg)
		}
		ginkgo.AddReportEntry(NonStrictEntry, msg, types.ReportEntryVisibilityAlways)
	default:
		ginkgo.Fail(fmt.Sprintf("protocol.md §11 item %d (%s): the target follows neither the pushy 3.0 code nor the public docs: %s", r.Item, r.What, r.Observed))
	}
}
