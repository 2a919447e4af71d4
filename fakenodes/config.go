package fakenodes

import (
	"context"
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/internal/osslrsa"
	"github.com/pushlab/pushlab/internal/pushyclient"
	"github.com/pushlab/pushlab/internal/wire"
)

// pushyConfig is the node configuration a server hands out (protocol.md §2.9).
type pushyConfig struct {
	Host             string
	OutAddr          string
	CommandAddr      string
	Interval         time.Duration
	OfflineThreshold int
	OnlineThreshold  int
	PublicKey        *rsa.PublicKey
	publicKeyID      uint32 // distinct server keys of the process, for the shared verification cache
	CurvePublicKey   string // empty: a 1.x server without encryption
	SessionMethod    string
	SessionKey       []byte
	Lifetime         time.Duration
	MaxMessageSkew   time.Duration
	MaxBodySize      int
	IncarnationID    string
}

// configFetcher signs and sends config requests and decodes the answers. Server public keys are
// parsed once per distinct PEM.
type configFetcher struct {
	client      *http.Client
	base        string // server URL up to, without, /organizations
	org         string
	signVersion string
	userAgent   string
	rsa         *rsaSlots // the machine's RSA slots (nil: no limit)

	mu      sync.Mutex
	keys    map[string]*rsa.PublicKey
	ids     map[*rsa.PublicKey]uint32
	private map[*rsa.PrivateKey]privateKey
}

// privateKey does a node's two RSA private-key operations: *rsa.PrivateKey, or the same key
// held by libcrypto (osslrsa), which does them in about 60 % of the time. Joining nodes spend
// most of their CPU on these two operations.
type privateKey interface {
	crypto.Signer
	crypto.Decrypter
}

// privateKey returns the libcrypto form of key, made once per distinct key; key itself when
// libcrypto refuses it.
func (f *configFetcher) privateKey(key *rsa.PrivateKey) privateKey {
	f.mu.Lock()
	defer f.mu.Unlock()
	if k, ok := f.private[key]; ok {
		return k
	}
	var k privateKey = key
	if o, err := osslrsa.New(key); err == nil {
		k = o
	}
	if f.private == nil {
		f.private = map[*rsa.PrivateKey]privateKey{}
	}
	f.private[key] = k
	return k
}

// ErrConfig wraps every failure to obtain a node config.
var ErrConfig = errors.New("node config")

// httpError is a config request answered with a status other than 200.
type httpError struct {
	status int
	body   string
}

func (e *httpError) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.status, strings.TrimSpace(e.body))
}

// fetch does the real client's get_config: a signed GET of pushy/config/NODE?ccpk=...&version=2.0,
// then decrypts the session key with the client key.
func (f *configFetcher) fetch(ctx context.Context, node, clientName string, key *rsa.PrivateKey, ccpk string) (*pushyConfig, error) {
	path := "/organizations/" + f.org + "/pushy/config/" + node
	u := f.base + path + "?ccpk=" + url.QueryEscape(ccpk) + "&version=" + wire.ProtocolVersion
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Chef-Version", chefVersion)
	req.Header.Set("User-Agent", f.userAgent)
	priv := f.privateKey(key)
	signer := chefauth.Signer{UserID: clientName, Key: key, Crypto: priv, Version: f.signVersion}
	if err := f.rsa.do(func() error { return signer.Sign(req, nil) }); err != nil {
		return nil, fmt.Errorf("%w: signing: %v", ErrConfig, err)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: reading: %v", ErrConfig, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: GET %s: %w", ErrConfig, path, &httpError{resp.StatusCode, string(data)})
	}
	cfg, err := f.parse(data, priv)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return cfg, nil
}

// parse decodes a config document and decrypts its session key.
func (f *configFetcher) parse(data []byte, key crypto.Decrypter) (*pushyConfig, error) {
	var j pushyclient.NodeConfig
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("config is not JSON: %v", err)
	}
	hb := j.PushJobs.Heartbeat
	if hb.OutAddr == "" || hb.CommandAddr == "" {
		return nil, errors.New("config lacks push_jobs.heartbeat.out_addr or command_addr")
	}
	if hb.Interval <= 0 {
		return nil, fmt.Errorf("config heartbeat interval %v is not positive", hb.Interval)
	}
	pub, id, err := f.publicKey(j.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("config public_key: %v", err)
	}
	if j.EncodedSessionKey == nil || j.EncodedSessionKey.Key == "" {
		return nil, errors.New("no session key found in config")
	}
	enc, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(j.EncodedSessionKey.Key), ""))
	if err != nil {
		return nil, fmt.Errorf("session key is not base64: %v", err)
	}
	var sessionKey []byte
	err = f.rsa.do(func() (err error) {
		sessionKey, err = key.Decrypt(nil, enc, nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("decrypting the session key: %v", err)
	}
	cfg := &pushyConfig{
		Host:             j.Host,
		OutAddr:          hb.OutAddr,
		CommandAddr:      hb.CommandAddr,
		Interval:         time.Duration(hb.Interval * float64(time.Second)),
		OfflineThreshold: hb.OfflineThreshold,
		OnlineThreshold:  hb.OnlineThreshold,
		PublicKey:        pub,
		publicKeyID:      id,
		SessionMethod:    j.EncodedSessionKey.Method,
		SessionKey:       sessionKey,
		Lifetime:         time.Duration(j.Lifetime * float64(time.Second)),
		MaxMessageSkew:   time.Duration(j.MaxMessageSkew * float64(time.Second)),
		MaxBodySize:      j.MaxBodySize,
		IncarnationID:    j.IncarnationID,
	}
	if j.CurvePublicKey != nil {
		cfg.CurvePublicKey = *j.CurvePublicKey
	}
	return cfg, nil
}

func (f *configFetcher) publicKey(pem string) (*rsa.PublicKey, uint32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if k, ok := f.keys[pem]; ok {
		return k, f.ids[k], nil
	}
	k, err := chefauth.ParsePublicKeyPEM([]byte(pem))
	if err != nil {
		return nil, 0, err
	}
	if f.keys == nil {
		f.keys, f.ids = map[string]*rsa.PublicKey{}, map[*rsa.PublicKey]uint32{}
	}
	id := uint32(len(f.keys) + 1)
	f.keys[pem], f.ids[k] = k, id
	return k, id, nil
}

// chefVersion is the Chef client version the nodes claim (X-Chef-Version, User-Agent).
const chefVersion = "15.10.12"
