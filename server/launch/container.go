package launch

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// ContainerOptions describe a server image. The defaults fit pushlab's own image; a
// third-party image gives its command, data path and readiness probe.
type ContainerOptions struct {
	Image string
	// Cmd replaces the image's command; nil runs `pushlab server` with the Options' flags and
	// the data dir mounted at DataPath.
	Cmd []string
	// DataPath is where the host data dir is mounted; default /data.
	DataPath string
	Env      map[string]string
}

// Container is a server running in a container on the host network (everything stays on
// 127.0.0.1), started through testcontainers-go.
type Container struct {
	opts Options
	c    ContainerOptions
	tc   *testcontainers.DockerContainer
	api  *testcontainers.DockerClient
}

// StartContainer runs the image with host networking and waits for its readiness probe. The
// testcontainers reaper is turned off (no image can be pulled for it here); Stop removes the
// container.
func StartContainer(ctx context.Context, o Options, c ContainerOptions) (*Container, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if c.DataPath == "" {
		c.DataPath = "/data"
	}
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	cmd := c.Cmd
	if cmd == nil {
		cmd = o.serverArgs(c.DataPath)
	}
	opts := []testcontainers.ContainerCustomizer{
		testcontainers.WithCmd(cmd...),
		testcontainers.WithEnv(c.Env),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.NetworkMode = "host"
			if o.DataDir != "" {
				hc.Binds = append(hc.Binds, o.DataDir+":"+c.DataPath)
			}
		}),
	}
	tc, err := testcontainers.Run(ctx, c.Image, opts...)
	if err != nil {
		if tc != nil {
			_ = tc.Terminate(context.Background())
		}
		return nil, fmt.Errorf("starting container %s: %w", c.Image, err)
	}
	api, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		_ = tc.Terminate(context.Background())
		return nil, err
	}
	ct := &Container{opts: o, c: c, tc: tc, api: api}
	if err := ct.waitReady(ctx); err != nil {
		logs := ct.Logs(context.Background())
		_ = ct.Stop(context.Background())
		return nil, fmt.Errorf("%w\ncontainer output:\n%s", err, logs)
	}
	return ct, nil
}

func (c *Container) waitReady(ctx context.Context) error {
	return waitReady(ctx, c.opts.url()+c.opts.ReadyPath, c.opts.ReadyTimeout, nil)
}

// URL is the REST base URL.
func (c *Container) URL() string { return c.opts.url() }

// Options are the options in force, with the chosen ports.
func (c *Container) Options() Options { return c.opts }

// ID is the container id.
func (c *Container) ID() string { return c.tc.GetContainerID() }

// Logs returns what the container printed so far.
func (c *Container) Logs(ctx context.Context) string {
	r, err := c.tc.Logs(ctx)
	if err != nil {
		return err.Error()
	}
	defer r.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		b.Write(buf[:n])
		if err != nil || b.Len() > 1<<20 {
			break
		}
	}
	return b.String()
}

// Kill sends SIGKILL to the container.
func (c *Container) Kill(ctx context.Context) error {
	_, _ = c.api.ContainerUnpause(ctx, c.ID(), client.ContainerUnpauseOptions{})
	_, err := c.api.ContainerKill(ctx, c.ID(), client.ContainerKillOptions{Signal: "KILL"})
	return err
}

// Pause freezes the container.
func (c *Container) Pause(ctx context.Context) error {
	_, err := c.api.ContainerPause(ctx, c.ID(), client.ContainerPauseOptions{})
	return err
}

// Resume thaws the container.
func (c *Container) Resume(ctx context.Context) error {
	_, err := c.api.ContainerUnpause(ctx, c.ID(), client.ContainerUnpauseOptions{})
	return err
}

// Restart stops the container (10 s grace) and starts it again on the same data and ports.
func (c *Container) Restart(ctx context.Context) error {
	_, _ = c.api.ContainerUnpause(ctx, c.ID(), client.ContainerUnpauseOptions{})
	grace := 10 * time.Second
	if err := c.tc.Stop(ctx, &grace); err != nil {
		return err
	}
	if err := c.tc.Start(ctx); err != nil {
		return err
	}
	return c.waitReady(ctx)
}

// Stop removes the container.
func (c *Container) Stop(ctx context.Context) error {
	_, _ = c.api.ContainerUnpause(ctx, c.ID(), client.ContainerUnpauseOptions{})
	err := c.tc.Terminate(ctx)
	_ = c.api.Close()
	return err
}
