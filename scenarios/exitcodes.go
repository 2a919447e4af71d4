package scenarios

// Exit statuses of pushlab run and pushlab validate.
const (
	ExitPass         = 0 // every check passed
	ExitCheckFailed  = 1 // a check failed: the server did something the protocol forbids
	ExitInconclusive = 2 // the run cannot judge the server, e.g. the fleet itself lagged
	ExitThreshold    = 3 // a threshold was crossed
	ExitInvalid      = 4 // the scenario is invalid; nothing ran
	ExitHarness      = 5 // pushlab itself failed (could not start the server, the fleet, ...)
)
