// Package cli is skiff's command line: a thin layer that turns flags into
// calls to the container, image and network packages, and their results
// into Docker-like output and exit statuses.
package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v3"

	"skiff/internal/clidoc"
	"skiff/internal/container"
	"skiff/internal/exit"
	"skiff/internal/image"
	"skiff/internal/lifecycle"
	"skiff/internal/network"
)

// DefaultBusybox is a busybox root filesystem (`make rootfs`), imported as
// the image "busybox" on first use so that skiff works offline. The
// Makefile sets it at build time.
var DefaultBusybox = ""

// Main runs skiff with the arguments of the process and returns its exit
// status.
func Main(args []string) int {
	err := App().Run(context.Background(), args)
	if err == nil {
		return 0
	}
	var status *exit.Error
	if errors.As(err, &status) {
		if status.Msg != "" {
			fmt.Fprintln(os.Stderr, "skiff:", status.Msg)
		}
		return status.Code
	}
	// One line, whatever the libraries below put in their messages.
	fmt.Fprintln(os.Stderr, "skiff:", strings.ReplaceAll(err.Error(), "\n", "; "))
	return exit.Runtime
}

// App is the command tree; the reference page in docs/ is generated from it.
func App() *cli.Command {
	app := &cli.Command{
		Name:                  "skiff",
		Version:               Version,
		Usage:                 "a small container runtime, built in the lessons of containers from scratch",
		EnableShellCompletion: false,
		OnUsageError:          clidoc.UsageError,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "root", Value: "/run/skiff", Usage: "`DIR` for the state of containers"},
			&cli.StringFlag{Name: "data-root", Value: "/var/lib/skiff", Usage: "`DIR` for images, networks and volumes"},
		},
		Action: clidoc.UnknownCommand,
		Commands: []*cli.Command{
			runCommand(), execCommand(), createCommand(), startCommand(), restartCommand(), attachCommand(),
			psCommand(), logsCommand(), stopCommand(), killCommand(), pauseCommand(), unpauseCommand(), waitCommand(),
			portCommand(), topCommand(), updateCommand(), rmCommand(), inspectCommand(), statsCommand(),
			importCommand(), pullCommand(), imagesCommand(), rmiCommand(), commitCommand(),
			tagCommand(), saveCommand(), loadCommand(), exportCommand(), historyCommand(),
			networkCommand(), volumeCommand(), cpCommand(), systemCommand(), versionCommand(), infoCommand(),
			monitorCommand(), referenceCommand(),
		},
	}
	clidoc.Consistent(app)
	return app
}

// Version is skiff's version, for --version.
var Version = "0.5.0"

// env is what every command works with.
type env struct {
	containers *container.Store
	networks   *network.Store
	images     *image.Store
	runtime    *lifecycle.Runtime
	imagesDir  string
	exe        string   // this binary, re-executed as a detached container's monitor
	global     []string // the global flags, for re-executing skiff
}

func newEnv(cmd *cli.Command) (*env, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("must run as root: containers need namespaces, cgroups and mounts")
	}
	root, dataRoot := cmd.Root().String("root"), cmd.Root().String("data-root")
	for _, dir := range []*string{&root, &dataRoot} {
		abs, err := filepath.Abs(*dir)
		if err != nil {
			return nil, err
		}
		*dir = abs
	}
	if err := openRoots(root, dataRoot); err != nil {
		return nil, err
	}
	imagesDir := filepath.Join(dataRoot, "images")
	images, err := image.Open(imagesDir)
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	e := &env{
		containers: &container.Store{Root: root},
		networks:   &network.Store{Root: filepath.Join(dataRoot, "networks"), Tag: network.InstanceTag(dataRoot), Notice: os.Stderr},
		images:     images,
		imagesDir:  imagesDir,
		exe:        exe,
		global:     []string{"--root", root, "--data-root", dataRoot},
	}
	// skiff-init is the container's first process: a small binary of its
	// own starts in half the time of the whole command line.
	init, err := e.helper("skiff-init")
	if err != nil {
		return nil, err
	}
	e.runtime = &lifecycle.Runtime{Store: e.containers, Networks: e.networks, Init: init,
		CgroupParent: "skiff" + e.networks.Tag}
	return e, nil
}

// helper is the path of one of skiff's helper binaries, which live
// beside it.
func (e *env) helper(name string) (string, error) {
	path := filepath.Join(filepath.Dir(e.exe), name)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("%s not found: skiff needs %s beside it (make build makes both)", path, name)
	}
	return path, nil
}

// needArgs checks the number of positional arguments.
func needArgs(cmd *cli.Command, min int, usage string) error {
	if cmd.Args().Len() < min {
		return fmt.Errorf("usage: skiff %s %s", cmd.Name, usage)
	}
	return nil
}

// command wraps an action that needs the environment.
func command(action func(ctx context.Context, cmd *cli.Command, e *env) error) cli.ActionFunc {
	return func(ctx context.Context, cmd *cli.Command) error {
		e, err := newEnv(cmd)
		if err != nil {
			return err
		}
		return action(ctx, cmd, e)
	}
}
