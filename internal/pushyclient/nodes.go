package pushyclient

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
)

// NodeState is an element of GET /pushy/node_states or the reply of /pushy/node_states/NODE
// (protocol.md §2.8). Status ("online" or "offline") is only in the named reply.
type NodeState struct {
	NodeName     string `json:"node_name"`
	Status       string `json:"status,omitempty"`
	Availability string `json:"availability"`

	// Raw is the object exactly as the server sent it.
	Raw json.RawMessage `json:"-"`
}

// NodeStates lists the nodes the server currently tracks (GET /pushy/node_states).
func (c *Client) NodeStates(ctx context.Context) ([]NodeState, error) {
	path := c.pushy("node_states")
	b, _, err := c.call(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return nil, err
	}
	var raws []json.RawMessage
	if err := decode(http.MethodGet, path, b, &raws); err != nil {
		return nil, err
	}
	out := make([]NodeState, 0, len(raws))
	for _, r := range raws {
		var ns NodeState
		if err := decode(http.MethodGet, path, r, &ns); err != nil {
			return nil, err
		}
		ns.Raw = append(json.RawMessage(nil), r...)
		out = append(out, ns)
	}
	return out, nil
}

// NodeState returns one node's state (GET /pushy/node_states/NODE); a server answers even for
// a node it never saw (offline, unavailable).
func (c *Client) NodeState(ctx context.Context, node string) (*NodeState, error) {
	path := c.pushy("node_states", node)
	b, _, err := c.call(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return nil, err
	}
	var ns NodeState
	if err := decode(http.MethodGet, path, b, &ns); err != nil {
		return nil, err
	}
	ns.Raw = append(json.RawMessage(nil), b...)
	return &ns, nil
}

// SearchNodes returns the names of the organization's nodes matching a Chef search query, as
// knife-push's --search does (GET /organizations/ORG/search/node?q=Q&start=0&rows=1000,
// chef-api.md §2.13). It reads only the first 1000 rows, as knife-push does.
func (c *Client) SearchNodes(ctx context.Context, query string) ([]string, error) {
	path := c.Path("search/node") + "?q=" + url.QueryEscape(query) + "&start=0&rows=1000"
	b, _, err := c.call(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return nil, err
	}
	var out struct {
		Rows []struct {
			Name string `json:"name"`
		} `json:"rows"`
	}
	if err := decode(http.MethodGet, path, b, &out); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(out.Rows))
	for _, r := range out.Rows {
		names = append(names, r.Name)
	}
	return names, nil
}

// ServerStatus is the reply of GET /pushy/_status (protocol.md §2.10).
type ServerStatus struct {
	Status        string      `json:"status"`
	IncarnationID string      `json:"incarnation_id"`
	NodeFSMCount  json.Number `json:"node_fsm_count"`
	JobProcesses  []string    `json:"job_processes"`
}

// Status reads /pushy/_status, which needs no authentication (the request is signed anyway).
func (c *Client) Status(ctx context.Context) (*ServerStatus, error) {
	const path = "/pushy/_status"
	b, _, err := c.call(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return nil, err
	}
	var st ServerStatus
	if err := decode(http.MethodGet, path, b, &st); err != nil {
		return nil, err
	}
	return &st, nil
}
