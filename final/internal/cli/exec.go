package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/urfave/cli/v3"
	"golang.org/x/sys/unix"

	"skiff/internal/caps"
	"skiff/internal/cgroups"
	"skiff/internal/container"
	"skiff/internal/nsenter"
	"skiff/internal/terminal"
)

func execCommand() *cli.Command {
	return &cli.Command{
		Name:         "exec",
		Usage:        "run a command in a running container: its namespaces, cgroup, environment and user",
		ArgsUsage:    "NAME COMMAND [ARG...]",
		StopOnNthArg: new(1),
		OnUsageError: usageError,
		// -it is -i -t, as in Docker.
		UseShortOptionHandling: true,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "keep stdin open and connected"},
			&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "give the command a terminal"},
			&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set `KEY=VALUE` in the environment"},
			&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "the command's working `DIR` inside"},
			&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "run as `UID[:GID]`"},
		},
		Action: command(execAction),
	}
}

// execAction is `docker exec`: it joins the container's namespaces on one
// OS thread (package nsenter explains how), puts itself in the
// container's cgroup, and forks the command from that thread.
func execAction(ctx context.Context, cmd *cli.Command, e *env) error {
	if err := needArgs(cmd, 2, "[flags] NAME COMMAND [ARG...]"); err != nil {
		return err
	}
	waitSignals := catchSignals()
	c, err := e.containers.Get(cmd.Args().First())
	if err != nil {
		return err
	}
	if !c.State.Alive() {
		return fmt.Errorf("container %s is not running", c.Name())
	}
	p := c.Config.Process
	for _, kv := range cmd.StringSlice("env") {
		if !strings.Contains(kv, "=") || strings.HasPrefix(kv, "=") {
			return fmt.Errorf("invalid environment variable %q: want KEY=VALUE", kv)
		}
	}
	p.Env = mergeEnv(p.Env, cmd.StringSlice("env"))
	if w := cmd.String("workdir"); w != "" {
		p.Cwd = w
	}
	if cmd.IsSet("user") {
		root := fmt.Sprintf("/proc/%d/root", c.State.Pid)
		passwd, _ := os.ReadFile(filepath.Join(root, "etc", "passwd"))
		group, _ := os.ReadFile(filepath.Join(root, "etc", "group"))
		if p.User, err = parseUser(cmd.String("user"), userDB{passwd, group}); err != nil {
			return err
		}
	}
	argv := cmd.Args().Slice()[1:]
	bin, err := lookPathIn(c.State.Pid, argv[0], p.Env)
	if err != nil {
		return &container.StatusError{Code: container.ExitStatus(err), Msg: err.Error()}
	}
	run := exec.Command(bin)
	run.Args, run.Env, run.Dir = argv, p.Env, p.Cwd
	run.SysProcAttr = &unix.SysProcAttr{Credential: &syscall.Credential{Uid: p.User.UID, Gid: p.User.GID}}
	run.Stdout, run.Stderr = os.Stdout, os.Stderr
	if cmd.Bool("interactive") {
		run.Stdin = os.Stdin
	}
	var master *os.File
	if cmd.Bool("tty") {
		if master, err = attachContainerTTY(c.State.Pid, run); err != nil {
			return err
		}
	}
	intoCgroup, done, err := cgroups.Open(e.runtime.CgroupParent, c.Config.ID).ForkInto(run)
	if err != nil {
		return err
	}
	defer done()
	signals := waitSignals()
	if err := interrupted(signals); err != nil {
		return err
	}
	dropCaps := func() (func(), error) { return nil, caps.Drop() }
	err = nsenter.Start(run, nsenter.Of(c.State.Pid, containerNamespaces(c)...), dropCaps, intoCgroup)
	if err != nil {
		return &container.StatusError{Code: container.ExitCannotExec, Msg: fmt.Sprintf("exec %s: %v", argv[0], err)}
	}
	go func() {
		for sig := range signals {
			run.Process.Signal(sig)
		}
	}()
	if master != nil {
		in := os.Stdin
		if !cmd.Bool("interactive") {
			in = nil
		}
		go terminal.Proxy(master, in, os.Stdout)
	}
	run.Wait()
	ws, _ := run.ProcessState.Sys().(syscall.WaitStatus)
	if status := container.WaitStatusCode(unix.WaitStatus(ws)); status != 0 {
		return &container.StatusError{Code: status}
	}
	return nil
}

// containerNamespaces are the namespaces to join: every one the container
// has, the mount namespace last.
func containerNamespaces(c *container.Container) []string {
	return []string{"ipc", "uts", "net", "pid", "mnt"}
}

// attachContainerTTY opens a pty on the container's own devpts, from
// outside through /proc/PID/root, and makes its slave the command's
// controlling terminal.
func attachContainerTTY(pid int, run *exec.Cmd) (*os.File, error) {
	master, slave, err := terminal.OpenPTY(fmt.Sprintf("/proc/%d/root/dev/ptmx", pid))
	if err != nil {
		return nil, err
	}
	tty, err := os.OpenFile(slave, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, err
	}
	run.Stdin, run.Stdout, run.Stderr = tty, tty, tty
	run.SysProcAttr.Setsid, run.SysProcAttr.Setctty, run.SysProcAttr.Ctty = true, true, 0
	run.Env = mergeEnv(run.Env, []string{"TERM=xterm"})
	return master, nil
}

// lookPathIn finds a command in the container's PATH, looking through
// /proc/PID/root, and returns its path as the container sees it.
func lookPathIn(pid int, name string, env []string) (string, error) {
	root := fmt.Sprintf("/proc/%d/root", pid)
	candidates := []string{name}
	if !strings.Contains(name, "/") {
		candidates = nil
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, "PATH="); ok {
				for _, dir := range strings.Split(v, ":") {
					candidates = append(candidates, path.Join(dir, name))
				}
			}
		}
	}
	for _, candidate := range candidates {
		mode, err := statInRoot(root, candidate)
		if err == nil && mode&unix.S_IFMT != unix.S_IFDIR {
			if mode&0o111 == 0 {
				return "", &container.ExecError{Name: name, Err: unix.EACCES}
			}
			return candidate, nil
		}
	}
	return "", &container.ExecError{Name: name, Err: exec.ErrNotFound}
}

// statInRoot stats path as the container sees it: openat2 with
// RESOLVE_IN_ROOT resolves symlinks (/bin/sh -> /bin/busybox) inside
// root, not on the host.
func statInRoot(root, path string) (uint32, error) {
	dir, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(dir)
	fd, err := unix.Openat2(dir, path, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, err
	}
	return st.Mode, nil
}
