package pushyclient

// NodeConfig is the answer of GET /organizations/ORG/pushy/config/NODE (protocol.md §2.9), as
// nodes read it: optional fields are pointers, numbers are read as the server writes them.
type NodeConfig struct {
	Type     string `json:"type"`
	Host     string `json:"host"`
	PushJobs struct {
		Heartbeat struct {
			OutAddr          string  `json:"out_addr"`
			CommandAddr      string  `json:"command_addr"`
			Interval         float64 `json:"interval"`
			OfflineThreshold int     `json:"offline_threshold"`
			OnlineThreshold  int     `json:"online_threshold"`
		} `json:"heartbeat"`
	} `json:"push_jobs"`
	Node              string  `json:"node"`
	Organization      string  `json:"organization"`
	PublicKey         string  `json:"public_key"`
	CurvePublicKey    *string `json:"curve_public_key"`
	EncodedSessionKey *struct {
		Method string `json:"method"`
		Key    string `json:"key"`
	} `json:"encoded_session_key"`
	Lifetime       float64 `json:"lifetime"`
	MaxMessageSkew float64 `json:"max_message_skew"`
	MaxBodySize    int     `json:"max_body_size"`
	IncarnationID  string  `json:"incarnation_id"`
}

// CurveKey is the server's CURVE public key, "" when the server offers none.
func (c *NodeConfig) CurveKey() string {
	if c.CurvePublicKey == nil {
		return ""
	}
	return *c.CurvePublicKey
}
