package fakenodes

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"time"

	"github.com/google/uuid"
	zmq "github.com/pebbe/zmq4"

	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/internal/wire"
)

// A sink is a lean Push Jobs server for benchmarks: it hands out config (one session key for
// every node), publishes signed heartbeats, answers the first message of each new ZeroMQ
// identity with abort (so nodes come online) and otherwise only counts. It runs in its own
// process so that the fleet's costs are measured alone and each side has its own open files.

// sinkEnv makes the test binary a sink process: the value is the heartbeat interval.
const sinkEnv = "FAKENODES_SINK"

type sinkInfo struct {
	URL string `json:"url"`
}

// runSink serves until stdin closes. It prints a sinkInfo line when ready.
func runSink(interval time.Duration, nodeKey *rsa.PublicKey) error {
	zctx, err := zmq.NewContext()
	if err != nil {
		return err
	}
	_ = zctx.SetMaxSockets(64)
	_ = zctx.SetIoThreads(1)
	serverKey, err := chefauth.GenerateKey()
	if err != nil {
		return err
	}
	curvePub, curveSec, err := zmq.NewCurveKeypair()
	if err != nil {
		return err
	}
	pub, _ := zctx.NewSocket(zmq.PUB)
	pub.SetLinger(0)
	pub.SetSndhwm(100)
	if err := pub.Bind("tcp://127.0.0.1:*"); err != nil {
		return err
	}
	router, _ := zctx.NewSocket(zmq.ROUTER)
	router.SetLinger(0)
	router.SetCurveServer(1)
	router.SetCurveSecretkey(curveSec)
	router.SetRcvhwm(0)
	if err := router.Bind("tcp://127.0.0.1:*"); err != nil {
		return err
	}
	pubAddr, _ := pub.GetLastEndpoint()
	routerAddr, _ := router.GetLastEndpoint()
	sessionKey := make([]byte, 32)
	_, _ = rand.Read(sessionKey)
	enc, err := rsa.EncryptPKCS1v15(rand.Reader, nodeKey, sessionKey)
	if err != nil {
		return err
	}
	incarnation := uuid.NewString()
	cfg, _ := json.Marshal(map[string]any{
		"type": "config", "host": "127.0.0.1",
		"push_jobs": map[string]any{"heartbeat": map[string]any{"out_addr": pubAddr, "command_addr": routerAddr,
			"interval": interval.Seconds(), "offline_threshold": 3, "online_threshold": 2}},
		"public_key":          string(chefauth.EncodePublicKeyPEM(&serverKey.PublicKey)),
		"curve_public_key":    curvePub,
		"encoded_session_key": map[string]string{"method": "hmac_sha256", "key": base64.StdEncoding.EncodeToString(enc)},
		"lifetime":            3600, "max_message_skew": 300, "max_body_size": 65536, "incarnation_id": incarnation,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(cfg)
	}))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { // the parent holds stdin; its end is ours
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		var seq int64
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			h, b, err := wire.EncodeRSA(serverKey, wire.NewServerHeartbeat("sink", incarnation).WithStamp(seq, wire.FormatTime(time.Now())))
			seq++
			if err == nil {
				pub.SendMessage(h, b)
			}
		}
	}()
	json.NewEncoder(os.Stdout).Encode(sinkInfo{URL: "http://" + ln.Addr().String()})
	known := map[string]bool{}
	var seq int64
	poller := zmq.NewPoller()
	poller.Add(router, zmq.POLLIN)
	for ctx.Err() == nil {
		if polled, err := poller.Poll(200 * time.Millisecond); err != nil || len(polled) == 0 {
			continue
		}
		for {
			parts, err := router.RecvMessageBytes(zmq.DONTWAIT)
			if err != nil {
				break
			}
			if len(parts) != 3 || known[string(parts[0])] {
				continue
			}
			known[string(parts[0])] = true
			seq++
			h, b, _ := wire.EncodeHMAC(sessionKey, wire.NewAbort().WithStamp(seq, wire.FormatTime(time.Now())))
			router.SendMessage(parts[0], h, b)
		}
	}
	router.Close()
	pub.Close()
	return zctx.Term()
}

// startSink runs a sink process and returns its URL; it stops when the benchmark ends.
func startSink(tb interface {
	Fatal(...any)
	Cleanup(func())
}, interval time.Duration, nodeKey *rsa.PrivateKey) string {
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), sinkEnv+"="+interval.String(), nodeKeyEnv+"="+string(chefauth.EncodePrivateKeyPEM(nodeKey)))
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	var info sinkInfo
	if err != nil || json.Unmarshal([]byte(line), &info) != nil {
		tb.Fatal(fmt.Sprintf("sink did not start: %q %v", line, err))
	}
	return info.URL
}

// nodeKeyEnv passes the nodes' key to child processes.
const nodeKeyEnv = "FAKENODES_NODE_KEY"

func keyFromEnv() (*rsa.PrivateKey, error) {
	return chefauth.ParsePrivateKeyPEM([]byte(os.Getenv(nodeKeyEnv)))
}

// childMain runs the child modes of the test binary; ok is false in the normal test process.
func childMain() (code int, ok bool) {
	if v := os.Getenv(sinkEnv); v != "" {
		interval, err := time.ParseDuration(v)
		key, err2 := keyFromEnv()
		if err != nil || err2 != nil {
			fmt.Fprintln(os.Stderr, "sink:", err, err2)
			return 2, true
		}
		if err := runSink(interval, &key.PublicKey); err != nil {
			fmt.Fprintln(os.Stderr, "sink:", err)
			return 1, true
		}
		return 0, true
	}
	if v := os.Getenv(fleetChildEnv); v != "" {
		return runFleetChild(v), true
	}
	return 0, false
}
