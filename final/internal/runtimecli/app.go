// Package runtimecli is skiff-runtime's command line: the part of runc's
// that containerd, dockerd and the OCI validation suite call, over
// package oci. Containers live in --root/ID, each holding its state.json
// and its start FIFO.
package runtimecli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"skiff/internal/clidoc"
	"skiff/internal/exit"
	"skiff/internal/oci"
)

// Version is skiff-runtime's version, with the spec it implements.
var Version = "0.5.0"

// Main runs skiff-runtime and returns its exit status. An error goes to
// stderr and, with --log, to the log as runc writes it: that line is what
// containerd and Docker show their users.
func Main(args []string) int {
	app := App()
	err := app.Run(context.Background(), args)
	if err == nil {
		return 0
	}
	var status *exit.Error
	if errors.As(err, &status) && status.Msg == "" {
		return status.Code // the exec'd process's own status
	}
	msg := strings.ReplaceAll(err.Error(), "\n", "; ")
	logLine(app, "error", msg)
	fmt.Fprintln(os.Stderr, "skiff-runtime:", msg)
	return 1
}

// App is the command tree.
func App() *cli.Command {
	app := &cli.Command{
		Name:    "skiff-runtime",
		Version: Version + "\nspec: " + specVersion(),
		Usage:   "skiff's OCI runtime, with runc's command line (for containerd, Docker and the OCI validation suite)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "root", Value: "/run/skiff-runtime", Usage: "`DIR` for the state of containers"},
			&cli.StringFlag{Name: "log", Usage: "append errors and warnings to `FILE`"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "the log's format: text or json"},
			&cli.BoolFlag{Name: "systemd-cgroup", Usage: "refused: skiff-runtime manages cgroups as files (the cgroupfs driver)"},
		},
		Before: checkGlobals,
		Commands: []*cli.Command{
			createCommand(), startCommand(), stateCommand(), killCommand(), deleteCommand(),
			execCommand(), psCommand(), pauseCommand(), resumeCommand(), updateCommand(),
			listCommand(), featuresCommand(), specCommand(), seccompCommand(),
			clidoc.Command(App, os.Stdout),
		},
	}
	clidoc.Consistent(app)
	return app
}

func checkGlobals(ctx context.Context, cmd *cli.Command) (context.Context, error) {
	if cmd.Bool("systemd-cgroup") {
		return ctx, errors.New("--systemd-cgroup: skiff-runtime has no systemd cgroup driver; configure the client for cgroupfs (SystemdCgroup = false)")
	}
	if f := cmd.String("log-format"); f != "text" && f != "json" {
		return ctx, fmt.Errorf("--log-format %s: want text or json", f)
	}
	oci.Warn = func(err error) { logLine(cmd, "warning", err.Error()) }
	return ctx, nil
}

// logLine appends one line to --log, if given: {"level":…,"msg":…,"time":…}
// with --log-format json, as runc's logrus writes it.
func logLine(cmd *cli.Command, level, msg string) {
	path := cmd.String("log")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	if cmd.String("log-format") == "json" {
		line, _ := json.Marshal(map[string]string{"level": level, "msg": msg, "time": now})
		fmt.Fprintf(f, "%s\n", line)
		return
	}
	fmt.Fprintf(f, "time=%q level=%s msg=%q\n", now, level, msg)
}

// validID is runc's rule for container IDs: they name folders.
var validID = regexp.MustCompile(`^[\w+\-.]+$`)

// containerDir is the state folder of container id.
func containerDir(cmd *cli.Command, id string) (string, error) {
	if !validID.MatchString(id) || id == "." || id == ".." {
		return "", fmt.Errorf("invalid container ID %q: want letters, digits, _ + - .", id)
	}
	root, err := filepath.Abs(cmd.String("root"))
	if err != nil {
		return "", err
	}
	return filepath.Join(root, id), nil
}

// load finds container id.
func load(cmd *cli.Command, id string) (*oci.Container, error) {
	dir, err := containerDir(cmd, id)
	if err != nil {
		return nil, err
	}
	c, err := oci.Load(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("container %s does not exist", id)
	}
	return c, err
}

// oneID is the single positional argument most commands take.
func oneID(cmd *cli.Command) (string, error) {
	if cmd.Args().Len() != 1 {
		return "", fmt.Errorf("usage: skiff-runtime %s [flags] ID", cmd.Name)
	}
	return cmd.Args().First(), nil
}

// withContainer is an action on the one container its argument names.
func withContainer(do func(cmd *cli.Command, c *oci.Container) error) cli.ActionFunc {
	return func(ctx context.Context, cmd *cli.Command) error {
		id, err := oneID(cmd)
		if err != nil {
			return err
		}
		c, err := load(cmd, id)
		if err != nil {
			return err
		}
		return do(cmd, c)
	}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// initPath is skiff-init, which lives beside skiff-runtime.
func initPath() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	path := filepath.Join(filepath.Dir(exe), "skiff-init")
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("%s not found: skiff-runtime needs skiff-init beside it (make build makes both)", path)
	}
	return path, nil
}
