package pushyclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pushlab/pushlab/internal/chefauth"
)

// DefaultTimeout bounds each request of the typed methods (feeds have no bound).
const DefaultTimeout = 60 * time.Second

// ChefVersion is the X-Chef-Version header sent with every request.
const ChefVersion = "15.10.12"

// Client talks to one organization of a Push Jobs server (protocol.md §2, §6).
type Client struct {
	BaseURL string           // scheme://host[:port], no trailing path (a trailing slash is ignored)
	Org     string           // organization of the relative paths
	Signer  *chefauth.Signer // signs every request
	HTTP    *http.Client     // nil: http.DefaultClient; its Timeout must be 0 for feeds
	Timeout time.Duration    // per request of the typed methods; 0: DefaultTimeout
}

// New returns a client for org on the server at baseURL that signs as signer.
func New(baseURL, org string, signer *chefauth.Signer) *Client {
	return &Client{BaseURL: baseURL, Org: org, Signer: signer}
}

// Error is a reply with a status outside 2xx.
type Error struct {
	Method     string
	Path       string
	StatusCode int
	Status     string // e.g. "404 Not Found"
	Body       []byte
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s %s: %s", e.Method, e.Path, e.Status)
	if m := e.Message(); m != "" {
		s += ": " + m
	}
	return s
}

// Message is the server's error text: the "error" string, or the "error" array joined with
// "; " (protocol.md §2.2 has both shapes), or "" when the body carries neither.
func (e *Error) Message() string {
	var b struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(e.Body, &b) != nil || len(b.Error) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(b.Error, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(b.Error, &list) == nil {
		return strings.Join(list, "; ")
	}
	return string(b.Error)
}

// StatusCode returns the HTTP status of an *Error in err's chain, or 0.
func StatusCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// Path resolves p: an absolute path is kept, a relative one ("pushy/jobs") is placed under
// /organizations/ORG/.
func (c *Client) Path(p string) string {
	if strings.HasPrefix(p, "/") {
		return p
	}
	return "/organizations/" + url.PathEscape(c.Org) + "/" + p
}

// pushy returns /organizations/ORG/pushy/ followed by the escaped segments joined by "/".
func (c *Client) pushy(segments ...string) string {
	esc := make([]string, len(segments))
	for i, s := range segments {
		esc[i] = url.PathEscape(s)
	}
	return c.Path("pushy/" + strings.Join(esc, "/"))
}

// defaultAccept is the media type the resource at path provides (protocol.md §2.2 step 6).
func defaultAccept(path string) string {
	switch {
	case strings.Contains(path, "status_feed"):
		return "text/event-stream"
	case strings.Contains(path, "/output/"):
		return "application/octet-stream"
	}
	return "application/json"
}

// Do sends one signed request and returns the response whatever its status; the caller closes
// its body. path is absolute or relative to the organization (see Path) and may carry a query.
// Accept defaults to the type the resource provides, Content-Type to application/json when
// there is a body; header adds or overrides headers (after signing, so X-Ops-* can be
// replaced to send deliberately bad requests).
func (c *Client) Do(ctx context.Context, method, path string, body []byte, header http.Header) (*http.Response, error) {
	path = c.Path(path)
	u, err := url.Parse(strings.TrimRight(c.BaseURL, "/") + path)
	if err != nil {
		return nil, fmt.Errorf("request URL: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", defaultAccept(u.Path))
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-Chef-Version", ChefVersion)
	if c.Signer == nil {
		return nil, errors.New("pushyclient: no signer")
	}
	if err := c.Signer.Sign(req, body); err != nil {
		return nil, fmt.Errorf("signing %s %s: %w", method, u.Path, err)
	}
	for k, v := range header {
		req.Header[http.CanonicalHeaderKey(k)] = v
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	return hc.Do(req)
}

// call sends a request bounded by the client timeout, reads the whole body and turns a status
// outside 2xx into *Error.
func (c *Client) call(ctx context.Context, method, path string, body []byte, header http.Header) ([]byte, *http.Response, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := c.Do(ctx, method, path, body, header)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, resp, fmt.Errorf("%s %s: reading the reply: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return b, resp, &Error{Method: method, Path: c.Path(path), StatusCode: resp.StatusCode, Status: resp.Status, Body: b}
	}
	return b, resp, nil
}

// decode unmarshals a JSON reply, keeping numbers as json.Number.
func decode(method, path string, b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%s %s: decoding the reply: %w", method, path, err)
	}
	return nil
}
