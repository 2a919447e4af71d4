package mutant

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Name is one deliberate fault.
type Name string

// The mutants. Each breaks one rule of protocol.md that a conformance spec checks.
const (
	QuorumFailedAsComplete Name = "quorum-failed-as-complete" // §5.3: a job that failed its quorum reports complete
	SSEOutOfOrder          Name = "sse-out-of-order"          // §6: quorum_succeeded is emitted before the last vote
	SSEDuplicateIDs        Name = "sse-duplicate-ids"         // §6: run_start events reuse the previous event's id
	OutputTruncated        Name = "output-truncated"          // §2.7: the output resource drops the last byte
	NackIgnored            Name = "nack-ignored"              // §5.4: nack_commit from a new node is ignored
	CrashedLeftRunning     Name = "crashed-left-running"      // §5.5: a running node that goes down stays running
	Wrong400Message        Name = "wrong-400-message"         // §2.5: job validation messages are reworded
	BadSignatureAccepted   Name = "bad-signature-accepted"    // §3: requests with a bad signature are served
	LastEventIDIgnored     Name = "last-event-id-ignored"     // §6: Last-Event-ID is ignored by the feeds
	DeadNodeStaysAvailable Name = "dead-node-stays-available" // §4.6: a silent node is never declared down
	VotingEndsEarly        Name = "voting-ends-early"         // §5.3: voting ends once the quorum is met, before every node answered
	WasReadyMissing        Name = "was-ready-missing"         // §5.3: ready nodes of a quorum-failed job stay ready
)

// Slowdowns are mutants that break no rule, only make the server slower: the regression gate
// (pushlab gate) must notice them, the conformance suite need not.
const (
	SlowCommit Name = "slow-commit" // each job's commit fan-out starts SlowCommitDelay late
)

// SlowCommitDelay is how late SlowCommit sends a job's commits.
const SlowCommitDelay = 300 * time.Millisecond

var slowdowns = map[Name]string{
	SlowCommit: "each job's commits go out 300ms late (a performance regression, no protocol fault)",
}

var descriptions = map[Name]string{
	QuorumFailedAsComplete: "a job that failed its quorum reports status complete (§5.3)",
	SSEOutOfOrder:          "quorum_succeeded is emitted before the last quorum_vote (§6)",
	SSEDuplicateIDs:        "run_start events reuse the previous event's id (§6)",
	OutputTruncated:        "the output resource drops the last byte (§2.7)",
	NackIgnored:            "nack_commit from a node that has not voted is ignored (§5.4)",
	CrashedLeftRunning:     "a running node that goes down stays running (§5.5)",
	Wrong400Message:        "job validation error messages are reworded (§2.5)",
	BadSignatureAccepted:   "requests whose signature does not verify are served (§3)",
	LastEventIDIgnored:     "the feeds ignore Last-Event-ID (§6)",
	DeadNodeStaysAvailable: "a node that stops heartbeating is never declared down (§4.6)",
	VotingEndsEarly:        "voting ends as soon as the quorum is met, before every node answered (§5.3)",
	WasReadyMissing:        "ready nodes of a job that failed its quorum stay ready instead of was_ready (§5.3)",
}

// All lists every mutant that breaks a rule of the protocol (not the Slowdowns), sorted.
func All() []Name { return sortedNames(descriptions) }

// Slowdowns lists the mutants that only make the server slower, sorted.
func Slowdowns() []Name { return sortedNames(slowdowns) }

func sortedNames(m map[Name]string) []Name {
	out := make([]Name, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Describe says what the mutant breaks.
func Describe(n Name) string {
	if d, ok := descriptions[n]; ok {
		return d
	}
	return slowdowns[n]
}

// Set is the mutants a server runs with; the zero value has none.
type Set map[Name]bool

// Has reports whether n is on.
func (s Set) Has(n Name) bool { return s[n] }

// Parse turns names into a Set, refusing unknown ones.
func Parse(names []string) (Set, error) {
	s := Set{}
	for _, raw := range names {
		for _, part := range strings.Split(raw, ",") {
			n := Name(strings.TrimSpace(part))
			if n == "" {
				continue
			}
			if Describe(n) == "" {
				return nil, fmt.Errorf("unknown mutant %q (known: %v, slowdowns: %v)", n, All(), Slowdowns())
			}
			s[n] = true
		}
	}
	return s, nil
}
