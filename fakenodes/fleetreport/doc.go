// Package fleetreport is what a fleet shard saw (the JSON `pushlab fleet --report` writes when it stops) and the gathering of the shards of one fleet into one report.
package fleetreport
