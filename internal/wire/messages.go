package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Message types (the JSON "type" field).
const (
	TypeHeartbeat  = "heartbeat"
	TypeAbort      = "abort"
	TypeAck        = "ack"
	TypeCommit     = "commit"
	TypeRun        = "run"
	TypeAckCommit  = "ack_commit"
	TypeNackCommit = "nack_commit"
	TypeAckRun     = "ack_run"
	TypeNackRun    = "nack_run"
	TypeSucceeded  = "succeeded"
	TypeFailed     = "failed"
	TypeAborted    = "aborted"
)

// ProtocolVersion is the protocol_version a 2.x node sends.
const ProtocolVersion = "2.0"

// MaxJobIDSize is the longest job id accepted in a node message.
const MaxJobIDSize = 64

// Decoding errors. ErrUnknownType lets a receiver log and ignore a well-formed message of a type
// it does not know, as the server does.
var (
	ErrBodyTooLarge = errors.New("wire: body frame larger than the maximum body size")
	ErrBadJSON      = errors.New("wire: body is not a JSON object")
	ErrNoType       = errors.New("wire: body has no string \"type\"")
	ErrUnknownType  = errors.New("wire: unknown message type")
	ErrInvalidJobID = errors.New("wire: invalid job_id")
)

// Stamp carries the fields the sender adds to every server→node message: a sequence number
// and an RFC 1123 timestamp.
type Stamp struct {
	Sequence  int64  `json:"sequence"`
	Timestamp string `json:"timestamp"`
}

// ServerMessage is a server→node message. WithStamp returns a copy carrying seq and ts.
type ServerMessage interface {
	MessageType() string
	WithStamp(seq int64, ts string) ServerMessage
}

// ServerHeartbeat is published on the PUB socket, signed rsa2048_sha1.
type ServerHeartbeat struct {
	Server        string `json:"server"`
	Type          string `json:"type"`
	IncarnationID string `json:"incarnation_id"`
	Stamp
}

// Abort tells a node to drop what it is doing and answer "aborted".
type Abort struct {
	Type string `json:"type"`
	Stamp
}

// Ack is sent when a known node reappears with a new ZeroMQ identity; clients ignore it.
type Ack struct {
	Type string `json:"type"`
	Stamp
}

// Commit asks a node to vote on a job. Capture is always present (false is written out).
type Commit struct {
	Type    string            `json:"type"`
	JobID   string            `json:"job_id"`
	Server  string            `json:"server"`
	Command string            `json:"command"`
	User    string            `json:"user,omitempty"`
	Dir     string            `json:"dir,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	File    string            `json:"file,omitempty"`
	Capture bool              `json:"capture"`
	Stamp
}

// Run tells a committed node to start the job's command.
type Run struct {
	Type  string `json:"type"`
	JobID string `json:"job_id"`
	Stamp
}

// NewServerHeartbeat, NewAbort, NewAck, NewCommit and NewRun fill in the type field.
func NewServerHeartbeat(server, incarnation string) ServerHeartbeat {
	return ServerHeartbeat{Server: server, Type: TypeHeartbeat, IncarnationID: incarnation}
}

// NewAbort returns an abort message.
func NewAbort() Abort { return Abort{Type: TypeAbort} }

// NewAck returns an ack message.
func NewAck() Ack { return Ack{Type: TypeAck} }

// NewRun returns a run message for job.
func NewRun(job string) Run { return Run{Type: TypeRun, JobID: job} }

// NewCommit returns a commit message for job and command; set the optional fields on the result.
func NewCommit(job, server, command string) Commit {
	return Commit{Type: TypeCommit, JobID: job, Server: server, Command: command}
}

func (m ServerHeartbeat) MessageType() string { return TypeHeartbeat }
func (m Abort) MessageType() string           { return TypeAbort }
func (m Ack) MessageType() string             { return TypeAck }
func (m Commit) MessageType() string          { return TypeCommit }
func (m Run) MessageType() string             { return TypeRun }

func (m ServerHeartbeat) WithStamp(seq int64, ts string) ServerMessage {
	m.Type, m.Stamp = TypeHeartbeat, Stamp{seq, ts}
	return m
}

func (m Abort) WithStamp(seq int64, ts string) ServerMessage {
	m.Type, m.Stamp = TypeAbort, Stamp{seq, ts}
	return m
}

func (m Ack) WithStamp(seq int64, ts string) ServerMessage {
	m.Type, m.Stamp = TypeAck, Stamp{seq, ts}
	return m
}

func (m Commit) WithStamp(seq int64, ts string) ServerMessage {
	m.Type, m.Stamp = TypeCommit, Stamp{seq, ts}
	return m
}

func (m Run) WithStamp(seq int64, ts string) ServerMessage {
	m.Type, m.Stamp = TypeRun, Stamp{seq, ts}
	return m
}

// NodeMessage is any of the eight node→server messages; Type says which. JobID "" means none
// and is written as null; on input both null and the string "null" read as none. JobState is
// only sent with heartbeats; Stdout and Stderr only with succeeded/failed of a captured job.
type NodeMessage struct {
	Node            string  `json:"node"`
	Client          string  `json:"client"`
	ProtocolVersion string  `json:"protocol_version"`
	Org             string  `json:"org"`
	Type            string  `json:"type"`
	Sequence        int64   `json:"sequence"`
	Timestamp       string  `json:"timestamp"`
	IncarnationID   string  `json:"incarnation_id"`
	JobID           string  `json:"-"`
	JobState        string  `json:"job_state,omitempty"`
	Stdout          *string `json:"stdout,omitempty"`
	Stderr          *string `json:"stderr,omitempty"`
}

var jsonNull = json.RawMessage("null")

// MarshalJSON writes job_id as a string, or null when JobID is empty.
func (m NodeMessage) MarshalJSON() ([]byte, error) {
	type plain NodeMessage
	aux := struct {
		plain
		JobID json.RawMessage `json:"job_id"`
	}{plain: plain(m), JobID: jsonNull}
	if m.JobID != "" {
		b, err := json.Marshal(m.JobID)
		if err != nil {
			return nil, err
		}
		aux.JobID = b
	}
	return json.Marshal(aux)
}

// nodeTypes are the node message types the server recognises (pushy_node_state message_type_to_atom).
var nodeTypes = map[string]bool{
	TypeHeartbeat: true, TypeAckCommit: true, TypeNackCommit: true, TypeAckRun: true,
	TypeNackRun: true, TypeSucceeded: true, TypeFailed: true, TypeAborted: true,
}

// IsNodeType reports whether t is one of the eight node→server message types.
func IsNodeType(t string) bool { return nodeTypes[t] }

// DecodeNode decodes a node→server body. The size limit is checked before any JSON decoding
// (maxBody ≤ 0 means DefaultMaxBodySize). A body whose type is not one of the eight node types
// returns the decoded message together with an error wrapping ErrUnknownType, so the caller can
// log who sent it and ignore it. job_id must be null, "null", or a string of at most
// MaxJobIDSize bytes.
func DecodeNode(body []byte, maxBody int) (*NodeMessage, error) {
	if err := checkBody(body, maxBody); err != nil {
		return nil, err
	}
	m, rawJobID, fast := decodeNodeFast(body)
	if !fast {
		type plain NodeMessage
		var aux struct {
			plain
			JobID json.RawMessage `json:"job_id"`
		}
		if err := json.Unmarshal(body, &aux); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadJSON, err)
		}
		m, rawJobID = NodeMessage(aux.plain), aux.JobID
	}
	if m.Type == "" {
		return nil, ErrNoType
	}
	switch {
	case len(rawJobID) == 0 || bytes.Equal(rawJobID, jsonNull):
	default:
		var s string
		if fast { // a plain string: no escapes to undo
			s = string(rawJobID[1 : len(rawJobID)-1])
		} else if err := json.Unmarshal(rawJobID, &s); err != nil {
			return nil, fmt.Errorf("%w: not a string or null", ErrInvalidJobID)
		}
		if len(s) > MaxJobIDSize {
			return nil, fmt.Errorf("%w: %d bytes (max %d)", ErrInvalidJobID, len(s), MaxJobIDSize)
		}
		if s != "null" {
			m.JobID = s
		}
	}
	if !nodeTypes[m.Type] {
		return &m, fmt.Errorf("%w %q", ErrUnknownType, m.Type)
	}
	return &m, nil
}

// DecodeServer decodes a server→node body into ServerHeartbeat, Abort, Ack, Commit or Run
// (values, not pointers). Unknown types return an error wrapping ErrUnknownType.
func DecodeServer(body []byte, maxBody int) (ServerMessage, error) {
	if err := checkBody(body, maxBody); err != nil {
		return nil, err
	}
	var probe struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadJSON, err)
	}
	switch probe.Type {
	case "":
		return nil, ErrNoType
	case TypeHeartbeat:
		return decodeAs[ServerHeartbeat](body)
	case TypeAbort:
		return decodeAs[Abort](body)
	case TypeAck:
		return decodeAs[Ack](body)
	case TypeCommit:
		return decodeAs[Commit](body)
	case TypeRun:
		return decodeAs[Run](body)
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownType, probe.Type)
}

func decodeAs[T ServerMessage](body []byte) (ServerMessage, error) {
	var m T
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadJSON, err)
	}
	return m, nil
}

func checkBody(body []byte, maxBody int) error {
	if maxBody <= 0 {
		maxBody = DefaultMaxBodySize
	}
	if len(body) > maxBody {
		return fmt.Errorf("%w (%d > %d bytes)", ErrBodyTooLarge, len(body), maxBody)
	}
	return nil
}
