package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v3"
	"golang.org/x/sys/unix"

	"skiff/internal/cgroups"
	"skiff/internal/container"
)

func waitCommand() *cli.Command {
	return &cli.Command{
		Name:      "wait",
		Usage:     "wait until containers stop, then print their exit codes",
		ArgsUsage: "NAME...",
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			return eachNamedQuiet(cmd, e, func(c *container.Container) error {
				for !c.StoppedForGood() {
					time.Sleep(50 * time.Millisecond)
					if err := c.Reload(); err != nil {
						return fmt.Errorf("container %s was removed", c.Name())
					}
				}
				fmt.Println(c.State.ExitCode)
				return nil
			})
		}),
	}
}

func topCommand() *cli.Command {
	return &cli.Command{
		Name:      "top",
		Usage:     "list a container's processes, as the host sees them (from its cgroup)",
		ArgsUsage: "NAME",
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			if cmd.Args().Len() != 1 {
				return errors.New("usage: skiff top NAME")
			}
			c, err := e.containers.Get(cmd.Args().First())
			if err != nil {
				return err
			}
			if c.Status() != container.Running {
				return fmt.Errorf("container %s is not running", c.Name())
			}
			pids, err := cgroups.Open(e.runtime.CgroupParent, c.Config.ID).Procs()
			if err != nil {
				return fmt.Errorf("read the cgroup of %s: %w", c.Name(), err)
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
			fmt.Fprintln(w, "UID\tPID\tPPID\tTIME\tCMD")
			for _, pid := range pids {
				if p, ok := readProc(pid); ok {
					fmt.Fprintf(w, "%d\t%d\t%d\t%s\t%s\n", p.uid, pid, p.ppid, p.cpu, p.cmd)
				}
			}
			return w.Flush()
		}),
	}
}

// proc is what top shows of a process, from /proc.
type proc struct {
	uid, ppid int
	cpu       time.Duration
	cmd       string
}

func readProc(pid int) (proc, bool) {
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return proc{}, false
	}
	var p proc
	// "PID (COMM) STATE PPID ..." with utime and stime as fields 14 and 15.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	if len(fields) > 12 {
		p.ppid, _ = strconv.Atoi(fields[1])
		utime, _ := strconv.ParseInt(fields[11], 10, 64)
		stime, _ := strconv.ParseInt(fields[12], 10, 64)
		p.cpu = time.Duration(utime+stime) * time.Second / 100 // USER_HZ
	}
	var st unix.Stat_t
	if unix.Stat(dir, &st) == nil {
		p.uid = int(st.Uid)
	}
	cmdline, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
	p.cmd = strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))
	return p, true
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print skiff's version and what it was built with",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			fmt.Printf("skiff:\n Version:\t%s\n OCI runtime spec:\t%s\n Go version:\t%s\n OS/Arch:\t%s/%s\n",
				Version, specs.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}

func infoCommand() *cli.Command {
	return &cli.Command{
		Name:  "info",
		Usage: "print what skiff manages on this host and how",
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			all, err := e.containers.List()
			if err != nil {
				return err
			}
			counts := map[string]int{}
			for _, c := range all {
				counts[e.psRowOf(c).State]++
			}
			images, err := e.images.List()
			if err != nil {
				return err
			}
			var uts unix.Utsname
			unix.Uname(&uts)
			fmt.Printf("Containers: %d\n Running: %d\n Paused: %d\n Stopped: %d\n", len(all), counts["running"], counts["paused"],
				len(all)-counts["running"]-counts["paused"])
			fmt.Printf("Images: %d\n", len(images))
			fmt.Printf("Storage Driver: overlay\nCgroup Driver: cgroupfs\nCgroup Version: %d\n", cgroups.Version())
			fmt.Printf("Security Options: seccomp, no-new-privileges\nKernel Version: %s\n", unix.ByteSliceToString(uts.Release[:]))
			fmt.Printf("Root: %s\nData Root: %s\nServer Version: %s\n", e.containers.Root, filepath.Dir(e.imagesDir), Version)
			return nil
		}),
	}
}
