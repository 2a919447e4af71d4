// Package launch starts a Push Jobs server for a run, as a child `pushlab server` process or a container image, and injects server faults: kill, pause, resume, restart.
package launch
