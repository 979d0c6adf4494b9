// Package initproc is the container's side of `skiff run`: the first
// process inside the new namespaces (runc calls it "init"), the program
// skiff-init (final/cmd/skiff-init). It waits for
// the runtime to finish the set-up outside (cgroup, network), builds the
// mount table and root, sets the hostname, terminal, user, working folder
// and environment, and then execs the user's command, which becomes the
// container's PID 1. With --init it stays PID 1 itself, as a reaper.
package initproc

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"skiff/internal/caps"
	"skiff/internal/container"
	"skiff/internal/rootfs"
	"skiff/internal/terminal"
)

// The file descriptors the runtime passes to init.
const (
	SyncFd    = 3 // the runtime writes one byte here when init may go on
	ErrorFd   = 4 // init writes "STATUS message" here on failure; exec closes it
	ConsoleFd = 5 // with a terminal: a unix socket for the pty's master
)

// Main runs init for the container in dir and does not return.
func Main(dir string) {
	// The capability bounding set belongs to a thread, and only the
	// thread that execs passes its own on: keep this goroutine on one.
	runtime.LockOSThread()
	unix.CloseOnExec(ErrorFd) // so that a successful exec reports EOF
	errs := os.NewFile(ErrorFd, "errors")
	err := run(dir, errs)
	status := container.ExitStatus(err)
	fmt.Fprintf(errs, "%d %v", status, err)
	os.Exit(status)
}

func run(dir string, errs *os.File) error {
	var cfg container.Config
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err == nil {
		err = json.Unmarshal(data, &cfg)
	}
	if err != nil {
		return fmt.Errorf("read %s/config.json: %w", dir, err)
	}
	if err := waitForRuntime(); err != nil {
		return err
	}
	if err := setUpRoot(dir, &cfg); err != nil {
		return err
	}
	if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
		return fmt.Errorf("sethostname %s: %w", cfg.Hostname, err)
	}
	if cfg.Network.Mode.OwnNamespace() {
		if err := loopbackUp(); err != nil {
			return err
		}
	}
	if cfg.Process.Terminal {
		if err := attachTerminal(); err != nil {
			return err
		}
	}
	return startProcess(&cfg, errs)
}

// waitForRuntime blocks until the runtime has put this process in its
// cgroup and network. EOF without the byte means the runtime failed or
// died: do not run unconfined.
func waitForRuntime() error {
	sync := os.NewFile(SyncFd, "sync")
	defer sync.Close()
	if n, _ := sync.Read(make([]byte, 1)); n != 1 {
		return errors.New("the runtime did not finish setting up the container")
	}
	return nil
}

func setUpRoot(dir string, cfg *container.Config) error {
	if err := rootfs.MakePrivate(); err != nil { // before any mount
		return err
	}
	root, err := rootfs.MountOverlay(dir, cfg.Layers)
	if err != nil {
		return err
	}
	if err := rootfs.MountSystem(root); err != nil {
		return err
	}
	for _, m := range append(cfg.Mounts, initLayer(dir)...) {
		if err := rootfs.MountVolume(root, m); err != nil {
			return err
		}
	}
	if err := rootfs.PivotRoot(root); err != nil {
		return err
	}
	if err := rootfs.MaskProc(); err != nil {
		return err
	}
	if cfg.ReadOnly {
		return rootfs.MakeRootReadOnly()
	}
	return nil
}

// initLayer are the files the runtime writes for each container, mounted
// over the image's: they are the container's, never the image's, and
// `skiff commit` leaves them out.
func initLayer(dir string) []container.Mount {
	var mounts []container.Mount
	for _, name := range container.InitLayerFiles {
		mounts = append(mounts, container.Mount{Source: filepath.Join(dir, filepath.Base(name)), Destination: name})
	}
	return mounts
}

// loopbackUp brings lo up in the container's own network namespace (on a
// bridge network, the runtime configures eth0 from outside). Two ioctls
// do it, where a netlink library would link in Go's net package, whose
// weight every container start would pay.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	lo, err := unix.NewIfreq("lo")
	if err == nil {
		err = unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, lo)
	}
	if err == nil {
		lo.SetUint16(lo.Uint16() | unix.IFF_UP)
		err = unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, lo)
	}
	if err != nil {
		return fmt.Errorf("ip link set lo up: %w", err)
	}
	return nil
}

// attachTerminal opens a pseudo-terminal on the container's own devpts,
// sends its master to the runtime and makes the slave our stdio.
func attachTerminal() error {
	master, slave, err := terminal.OpenPTY("/dev/ptmx")
	if err != nil {
		return err
	}
	socket := os.NewFile(ConsoleFd, "console")
	err = terminal.SendFile(socket, master)
	master.Close()
	socket.Close()
	if err != nil {
		return fmt.Errorf("send the terminal to the runtime: %w", err)
	}
	return terminal.AttachSlave(slave)
}

func startProcess(cfg *container.Config, errs *os.File) error {
	p := cfg.Process
	if err := os.MkdirAll(p.Cwd, 0o755); err != nil {
		return fmt.Errorf("working folder %s: %w", p.Cwd, err)
	}
	if err := unix.Chdir(p.Cwd); err != nil {
		return fmt.Errorf("chdir %s: %w", p.Cwd, err)
	}
	if err := caps.Drop(); err != nil {
		return err
	}
	if err := setUser(p.User.UID, p.User.GID); err != nil {
		return err
	}
	path, err := lookPath(p.Args[0], p.Env)
	if err != nil {
		return err
	}
	if cfg.Init {
		return reap(path, p.Args, p.Env, errs)
	}
	if err := unix.Exec(path, p.Args, p.Env); err != nil {
		return &container.ExecError{Name: p.Args[0], Err: err}
	}
	return nil
}

// setUser switches to the container's user. Go applies setgid and setuid
// to every thread of the process, one signal each, so what is already so
// (root, most often) is left alone.
func setUser(uid, gid uint32) error {
	if groups, err := unix.Getgroups(); err != nil || len(groups) > 0 {
		if err := unix.Setgroups(nil); err != nil {
			return fmt.Errorf("setgroups: %w", err)
		}
	}
	if r, e, s := unix.Getresgid(); r != int(gid) || e != int(gid) || s != int(gid) {
		if err := unix.Setgid(int(gid)); err != nil {
			return fmt.Errorf("setgid %d: %w", gid, err)
		}
	}
	if r, e, s := unix.Getresuid(); r != int(uid) || e != int(uid) || s != int(uid) {
		if err := unix.Setuid(int(uid)); err != nil {
			return fmt.Errorf("setuid %d: %w", uid, err)
		}
	}
	return nil
}

// lookPath searches the container's PATH, from its environment.
func lookPath(name string, env []string) (string, error) {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			os.Setenv("PATH", v)
		}
	}
	path, err := exec.LookPath(name)
	var lookErr *exec.Error
	if errors.As(err, &lookErr) {
		err = lookErr.Err
	}
	if err != nil {
		return "", &container.ExecError{Name: name, Err: err}
	}
	return path, nil
}
