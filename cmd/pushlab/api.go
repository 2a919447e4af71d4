package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pushlab/pushlab/internal/chefauth"
)

type apiFlags struct {
	server  string
	org     string
	user    string
	keyFile string
	version string
	accept  string
	headers []string
}

func newAPICommand() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{
		Use:   "api METHOD PATH [BODY]",
		Short: "Send one signed request to a Push Jobs or Chef server, like knife raw",
		Long: `Send one request signed with Chef request signing and print the response body.

PATH is absolute (/organizations/ORG/pushy/jobs, /pushy/_status) or relative to the
organization (pushy/jobs becomes /organizations/ORG/pushy/jobs). BODY is a literal string,
@FILE to read a file, or - to read standard input. The exit status is 0 for a 2xx answer,
22 otherwise (as curl --fail).`,
		Example: `  pushlab api GET pushy/node_states
  pushlab api POST pushy/jobs '{"command":"chef-client","nodes":["web1"]}'`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error { return runAPI(cmd, f, args) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.server, "server", "http://127.0.0.1:10003", "base URL of the server")
	fl.StringVar(&f.org, "org", "pushlab", "organization for relative paths")
	fl.StringVar(&f.user, "user", "admin", "user or client name to sign as")
	fl.StringVar(&f.keyFile, "key", "./pushlab-data/keys/admin.pem", "private key (PEM) of --user")
	fl.StringVar(&f.version, "sign-version", "1.1", "Chef signing protocol version: 1.0, 1.1 or 1.3")
	fl.StringVar(&f.accept, "accept", "", "Accept header (default: application/json, or text/event-stream for feeds)")
	fl.StringArrayVarP(&f.headers, "header", "H", nil, "extra header, 'Name: value' (repeatable)")
	return cmd
}

func runAPI(cmd *cobra.Command, f *apiFlags, args []string) error {
	method := strings.ToUpper(args[0])
	path := args[1]
	if !strings.HasPrefix(path, "/") {
		path = "/organizations/" + f.org + "/" + path
	}
	var body []byte
	if len(args) == 3 {
		var err error
		switch {
		case args[2] == "-":
			body, err = io.ReadAll(cmd.InOrStdin())
		case strings.HasPrefix(args[2], "@"):
			body, err = os.ReadFile(args[2][1:])
		default:
			body = []byte(args[2])
		}
		if err != nil {
			return fmt.Errorf("reading the body: %w", err)
		}
	}
	pem, err := os.ReadFile(f.keyFile)
	if err != nil {
		return fmt.Errorf("reading the key of %s: %w", f.user, err)
	}
	key, err := chefauth.ParsePrivateKeyPEM(pem)
	if err != nil {
		return fmt.Errorf("%s: %w", f.keyFile, err)
	}
	switch f.version {
	case "1.0", "1.1", "1.3":
	default:
		return fmt.Errorf("--sign-version must be 1.0, 1.1 or 1.3, not %q", f.version)
	}
	signer := &chefauth.Signer{UserID: f.user, Key: key, Version: f.version}
	base := strings.TrimRight(f.server, "/")
	req, err := http.NewRequestWithContext(cmd.Context(), method, base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	accept := f.accept
	if accept == "" {
		accept = "application/json"
		if strings.Contains(path, "status_feed") {
			accept = "text/event-stream"
		} else if strings.Contains(path, "/output/") {
			accept = "application/octet-stream"
		}
	}
	req.Header.Set("Accept", accept)
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-Chef-Version", "15.10.12")
	for _, h := range f.headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return fmt.Errorf("--header %q: want 'Name: value'", h)
		}
		req.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if err := signer.Sign(req, body); err != nil {
		return err
	}
	client := &http.Client{Timeout: 0}
	if accept != "text/event-stream" {
		client.Timeout = 60 * time.Second
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	fmt.Fprintf(cmd.ErrOrStderr(), "%s %s\n", resp.Proto, resp.Status)
	if _, err := io.Copy(cmd.OutOrStdout(), resp.Body); err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return &exitError{code: 22}
	}
	return nil
}
