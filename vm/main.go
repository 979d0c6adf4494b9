// Command vm boots a throwaway QEMU virtual machine with a Debian kernel and
// a busybox userland, and runs a lesson's demo, its tests or a shell in it
// as root. See docs/vm.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v3"
)

// defaultTimeout is generous: a lesson's tests take well under a minute
// under TCG. A demo takes seconds.
const (
	defaultTimeout = 10 * time.Minute
	demoTimeout    = 3 * time.Minute
)

func main() {
	cmd := &cli.Command{
		Name:  "vm",
		Usage: "run lessons in a throwaway virtual machine",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "cache", Value: ".cache", Usage: "`DIR` for downloaded packages and the rootfs"},
			&cli.BoolFlag{
				Name:        "no-apt",
				Sources:     cli.EnvVars("SKIFF_VM_NO_APT"),
				Destination: &noApt,
				Usage:       "fetch the kernel and busybox from a Debian mirror (verified against Debian's keys) and unpack them in Go, without apt or dpkg-deb, as on a non-Debian host",
			},
			&cli.StringFlag{
				Name:        "mirror",
				Sources:     cli.EnvVars("DEBIAN_MIRROR"),
				Destination: &mirrorURL,
				Usage:       "the Debian archive `URL` to fetch from when apt cannot (default: the first Debian archive in apt's sources)",
			},
		},
		Commands: []*cli.Command{
			{
				Name:   "assets",
				Usage:  "download and unpack the kernel and busybox into the cache",
				Action: assetsAction,
			},
			{
				Name:      "rootfs",
				Usage:     "build the busybox root filesystem for containers",
				ArgsUsage: "DIR",
				Action:    rootfsAction,
			},
			{
				Name:      "docs",
				Usage:     "rewrite the generated blocks (diffs, demo transcripts) of the chapters in REPO/docs",
				ArgsUsage: "REPO",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "transcripts", Usage: "also run every demo for its transcript: in the VM, or for a host-transcript block on this host (as root)"},
					&cli.StringFlag{Name: "chapter", Value: "*.md", Usage: "only the chapters whose file names match this `GLOB`"},
				},
				Action: docsAction,
			},
			{
				Name:      "exercise",
				Usage:     "write lesson NN's starter: its code with the new primitive left for you to write",
				ArgsUsage: "REPO NN",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "dir", Usage: "write the starter into `DIR` (default: REPO/work/LESSON)"},
				},
				Action: exerciseAction,
			},
			{
				Name:      "check",
				Usage:     "run chapter NN's tests against your code, in the VM, and report",
				ArgsUsage: "REPO NN",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "dir", Usage: "your code: `DIR` (default: REPO/work/LESSON, or for an exercise the lesson itself)"},
					&cli.StringFlag{Name: "exercise", Usage: "run exercise `K`'s test (exercises/NN/exK_test.go) instead"},
				},
				Action: checkAction,
			},
			{
				Name:  "run",
				Usage: "boot the VM and run a demo, a test binary or a shell in it",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "rootfs", Value: ".cache/rootfs", Usage: "container root filesystem, copied to /rootfs in the VM"},
					&cli.StringSliceFlag{Name: "bin", Usage: "`FILE` to put on the VM's PATH (repeatable)"},
					&cli.StringFlag{Name: "demo", Usage: "run `SCRIPT` as a transcript"},
					&cli.StringFlag{Name: "test", Usage: "run the go test binary `FILE` as root with -test.v"},
					&cli.StringFlag{Name: "test-args", Usage: "extra arguments for the test binary"},
					&cli.BoolFlag{Name: "shell", Usage: "an interactive shell on the console; exit powers off"},
					&cli.StringFlag{Name: "banner", Usage: "text printed before the shell starts"},
					&cli.StringFlag{Name: "cgroup", Value: "v2", Usage: "cgroup layout in the VM: v2 (unified) or v1 (one hierarchy per controller)"},
					&cli.DurationFlag{Name: "timeout", Value: defaultTimeout, Usage: "kill the VM after this long"},
					&cli.StringFlag{Name: "kernel", Usage: "boot this kernel `FILE` instead of Debian's (an uncompressed vmlinux with PVH, or a bzImage)"},
					&cli.StringFlag{Name: "modules", Usage: "`DIR` of the kernel's modules (lib/modules/VERSION), with --kernel"},
					&cli.StringFlag{Name: "accel", Value: "auto", Usage: "QEMU accelerator: kvm, tcg, or auto (kvm when it works here)"},
				},
				Action: runAction,
			},
		},
	}
	if err := cmd.Run(context.Background(), os.Args); err != nil {
		var exit cli.ExitCoder
		if errors.As(err, &exit) {
			os.Exit(exit.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "vm:", err)
		os.Exit(125)
	}
}

func assetsAction(ctx context.Context, cmd *cli.Command) error {
	c := cache{cmd.String("cache")}
	if _, _, err := c.kernel(); err != nil {
		return err
	}
	_, err := c.busybox()
	return err
}

func rootfsAction(ctx context.Context, cmd *cli.Command) error {
	if cmd.Args().Len() != 1 {
		return errors.New("usage: vm rootfs DIR")
	}
	busybox, err := cache{cmd.String("cache")}.busybox()
	if err != nil {
		return err
	}
	return buildRootfs(busybox, cmd.Args().First())
}

func docsAction(ctx context.Context, cmd *cli.Command) error {
	root := cmd.Args().First()
	if root == "" {
		return errors.New("usage: vm docs REPO")
	}
	var run transcripts
	if cmd.Bool("transcripts") {
		c := cache{cmd.String("cache")}
		run.vm = vmTranscript(c, root)
		if os.Geteuid() == 0 {
			run.host = hostTranscript(c, root)
		} else {
			step("not root: the transcripts made on this host (host-transcript, with containerd) are left as they are")
		}
	}
	return writeDocs(root, cmd.String("chapter"), run)
}

func runAction(ctx context.Context, cmd *cli.Command) error {
	g := guest{
		rootfs:  cmd.String("rootfs"),
		bins:    cmd.StringSlice("bin"),
		demo:    cmd.String("demo"),
		cgroup:  cmd.String("cgroup"),
		banner:  cmd.String("banner"),
		timeout: cmd.Duration("timeout").String(),
		accel:   cmd.String("accel"),
	}
	if g.accel != "auto" && g.accel != "kvm" && g.accel != "tcg" {
		return fmt.Errorf("--accel %q: want kvm, tcg or auto", g.accel)
	}
	if test := cmd.String("test"); test != "" {
		g.tests = []testRun{{name: filepath.Base(test), bin: test, args: cmd.String("test-args")}}
	}
	switch {
	case cmd.Bool("shell"):
		g.mode = "shell"
	case len(g.tests) > 0:
		g.mode = "test"
	case g.demo != "":
		g.mode = "demo"
	default:
		return errors.New("vm run: give --demo, --test or --shell")
	}
	if g.cgroup != "v1" && g.cgroup != "v2" {
		return fmt.Errorf("--cgroup %q: want v1 or v2", g.cgroup)
	}
	vmlinux, err := g.prepare(cache{cmd.String("cache")}, cmd.String("kernel"), cmd.String("modules"))
	if err != nil {
		return err
	}
	status, err := g.run(vmlinux, cmd.Duration("timeout"), os.Stdout)
	if err != nil {
		return err
	}
	if status != 0 {
		return cli.Exit("", status)
	}
	return nil
}
