package server

import (
	"github.com/pushlab/pushlab/internal/wire"
	"github.com/pushlab/pushlab/server/broker"
	"github.com/pushlab/pushlab/server/engine"
)

// nodeMsg turns a verified ZeroMQ message into the engine's input.
func nodeMsg(in broker.Inbound) engine.NodeMsg {
	m := in.Msg
	return engine.NodeMsg{
		Org:           in.Org,
		Node:          in.Node,
		Type:          m.Type,
		JobID:         m.JobID,
		JobState:      m.JobState,
		IncarnationID: m.IncarnationID,
		Stdout:        m.Stdout,
		Stderr:        m.Stderr,
		NewIdentity:   in.NewIdentity,
	}
}

// outboundMessage turns an engine message into its wire form; server is the name a commit
// carries (protocol.md §4.4).
func outboundMessage(m engine.Outbound, server string) wire.ServerMessage {
	switch m.Type {
	case wire.TypeCommit:
		c := wire.Commit{Type: wire.TypeCommit, JobID: m.JobID, Server: server, Command: m.Command,
			Env: m.Env, File: m.File, Capture: m.Capture}
		if m.User != nil {
			c.User = *m.User
		}
		if m.Dir != nil {
			c.Dir = *m.Dir
		}
		return c
	case wire.TypeRun:
		return wire.NewRun(m.JobID)
	case wire.TypeAck:
		return wire.NewAck()
	default:
		return wire.NewAbort()
	}
}
