package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/internal/pushyclient"
)

// connFlags are the connection flags of every command that talks to a server.
type connFlags struct {
	server  string
	org     string
	user    string
	keyFile string
	version string
}

func (c *connFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&c.server, "server", "http://127.0.0.1:10003", "base URL of the server")
	fl.StringVar(&c.org, "org", "pushlab", "organization (relative paths go under /organizations/ORG)")
	fl.StringVar(&c.user, "user", "admin", "user or client name to sign as")
	fl.StringVar(&c.keyFile, "key", "./pushlab-data/keys/admin.pem", "private key (PEM) of --user")
	fl.StringVar(&c.version, "sign-version", "1.1", "Chef signing protocol version: 1.0, 1.1 or 1.3")
}

// client reads the key and returns a client signing as --user.
func (c *connFlags) client() (*pushyclient.Client, error) {
	switch c.version {
	case "1.0", "1.1", "1.3":
	default:
		return nil, fmt.Errorf("--sign-version must be 1.0, 1.1 or 1.3, not %q", c.version)
	}
	pem, err := os.ReadFile(c.keyFile)
	if err != nil {
		return nil, fmt.Errorf("reading the key of %s: %w", c.user, err)
	}
	key, err := chefauth.ParsePrivateKeyPEM(pem)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.keyFile, err)
	}
	signer := &chefauth.Signer{UserID: c.user, Key: key, Version: c.version}
	return pushyclient.New(c.server, c.org, signer), nil
}

type apiFlags struct {
	conn    connFlags
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
	f.conn.register(fl)
	fl.StringVar(&f.accept, "accept", "", "Accept header (default: application/json, or text/event-stream for feeds)")
	fl.StringArrayVarP(&f.headers, "header", "H", nil, "extra header, 'Name: value' (repeatable)")
	return cmd
}

func runAPI(cmd *cobra.Command, f *apiFlags, args []string) error {
	method := strings.ToUpper(args[0])
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
	c, err := f.conn.client()
	if err != nil {
		return err
	}
	path := c.Path(args[1])
	header := http.Header{}
	if f.accept != "" {
		header.Set("Accept", f.accept)
	}
	for _, h := range f.headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return fmt.Errorf("--header %q: want 'Name: value'", h)
		}
		header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	ctx := cmd.Context()
	if !strings.Contains(path, "status_feed") && header.Get("Accept") != "text/event-stream" {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
	}
	resp, err := c.Do(ctx, method, path, body, header)
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
