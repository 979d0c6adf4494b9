// Lesson 05: cgroups. Run a command in its own namespaces, as lesson 04
// does, with limits on its memory, CPU time and number of processes.
//
//	lesson-05-cgroups run [--hostname NAME] [--volume HOST:CTR[:ro]]...
//	    [--memory SIZE] [--cpus N] [--pids N] [--verbose] ROOTFS COMMAND [ARG...]
//
// The cgroup code is in cgroups.go.
//
// The runtime re-executes itself as a hidden "child" step inside new
// namespaces; the child finishes the set-up from inside, then becomes the
// command.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"github.com/urfave/cli/v3"
	"golang.org/x/sys/unix"
)

// Exit statuses, as Docker uses them: the runtime failed (125), the
// command was found but cannot be executed (126), or was not found (127).
// Any other status is the command's own.
const (
	exitRuntime    = 125
	exitCannotExec = 126
	exitNotFound   = 127
)

// containerEnv is the whole environment of the command: nothing of the
// host's environment leaks in.
var containerEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
	"TERM=xterm",
}

// namespaces are the new namespaces the child starts in. CLONE_NEWIPC
// comes along with UTS: it gives the container its own System V message
// queues, semaphores and shared memory, and costs nothing. In a new PID
// namespace the child is PID 1, and it sees only its own descendants. In a
// new mount namespace its mounts are its own, once propagation is private.
//
//exercise:03 add the flag for a new PID namespace; see "A PID namespace is a numbering"
//exercise:04 add the flag for a new mount namespace; see "A new mount namespace starts as a copy"
const namespaces = unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWPID | unix.CLONE_NEWNS

// forwardedSignals are passed on from the runtime to the container.
var forwardedSignals = []os.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH}

var containerFlags = []cli.Flag{
	&cli.StringFlag{Name: "hostname", Usage: "the container's hostname (default: 12 random hex digits)"},
	&cli.StringSliceFlag{Name: "volume", Aliases: []string{"v"}, Usage: "bind-mount the host's `HOST:CTR[:ro]` path HOST at CTR inside (repeatable; :ro makes it read-only)"},
	&cli.StringFlag{Name: "memory", Aliases: []string{"m"}, Usage: "memory limit, e.g. 64M or 1G; past it the kernel OOM-kills a process of the container"},
	&cli.FloatFlag{Name: "cpus", Usage: "CPU time limit in CPUs, e.g. 0.5 for half of one CPU"},
	&cli.IntFlag{Name: "pids", Usage: "the most processes (and threads) the container may have at once"},
	&cli.BoolFlag{Name: "verbose", Usage: "print the cgroup's path and every file written to it (cgroup " + cgroupVersionName() + " on this host)"},
}

func main() {
	app := &cli.Command{
		Name:         "lesson-05-cgroups",
		Usage:        "containers from scratch, lesson 05: cgroups",
		Action:       unknownCommand,
		OnUsageError: usageError,
		Commands: []*cli.Command{{
			Name:      "run",
			Usage:     "run COMMAND with ROOTFS as its root directory, in new namespaces",
			ArgsUsage: "ROOTFS COMMAND [ARG...]",
			Flags:     containerFlags,
			// Flags end at ROOTFS: "-la" in "run ROOTFS ls -la" is ls's.
			StopOnNthArg: new(1),
			OnUsageError: usageError,
			Action:       run,
		}, {
			Name:         "child",
			Usage:        "the in-namespace half of run (internal)",
			Hidden:       true,
			Flags:        containerFlags,
			StopOnNthArg: new(1),
			Action:       child,
		}},
	}
	if err := app.Run(context.Background(), os.Args); err != nil {
		var status containerStatus
		if errors.As(err, &status) {
			os.Exit(int(status))
		}
		fmt.Fprintf(os.Stderr, "%s: %v\n", app.Name, err)
		os.Exit(exitStatus(err))
	}
}

// unknownCommand runs when no subcommand matched.
func unknownCommand(ctx context.Context, cmd *cli.Command) error {
	if cmd.Args().Present() {
		return fmt.Errorf("unknown command %q (see --help)", cmd.Args().First())
	}
	return cli.ShowAppHelp(cmd)
}

// usageError reports a bad flag in one line, without the help text.
func usageError(ctx context.Context, cmd *cli.Command, err error, isSubcommand bool) error {
	return fmt.Errorf("%w (see --help)", err)
}

// run is the parent side: it checks the input, starts the child in new
// namespaces and waits for it.
func run(ctx context.Context, cmd *cli.Command) error {
	if cmd.Args().Len() < 2 {
		return fmt.Errorf("usage: %s run [flags] ROOTFS COMMAND [ARG...]", cmd.Root().Name)
	}
	rootfs, argv := cmd.Args().First(), cmd.Args().Slice()[1:]
	if os.Geteuid() != 0 {
		return errors.New("must run as root: creating namespaces needs CAP_SYS_ADMIN")
	}
	if err := checkRootfs(rootfs); err != nil {
		return err
	}
	limits, err := parseLimits(cmd.String("memory"), cmd.Float("cpus"), int64(cmd.Int("pids")))
	if err != nil {
		return err
	}
	id := randomID()
	hostname := id
	if cmd.IsSet("hostname") {
		hostname = cmd.String("hostname")
		if err := checkHostname(hostname); err != nil {
			return err
		}
	}
	childArgs := []string{"child", "--hostname", hostname}
	for _, spec := range cmd.StringSlice("volume") {
		v, err := parseVolume(spec)
		if err != nil {
			return err
		}
		if _, err := os.Stat(v.host); err != nil {
			return fmt.Errorf("--volume %s: %w", spec, err)
		}
		childArgs = append(childArgs, "--volume", spec)
	}
	childArgs = append(append(childArgs, rootfs), argv...)
	return startContainer(childArgs, id, limits, cmd.Bool("verbose"))
}

// checkRootfs turns the commonest mistakes into a clear message before any
// system call is made.
func checkRootfs(rootfs string) error {
	info, err := os.Stat(rootfs)
	if err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	if !info.IsDir() {
		return fmt.Errorf("rootfs %s: not a directory", rootfs)
	}
	return nil
}

// validHostname is RFC 1123: dot-separated labels of letters, digits and
// hyphens, no label starting or ending with a hyphen.
var validHostname = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*$`)

// randomID names the container's cgroup and, by default, its hostname, as
// Docker does: 12 hex digits.
func randomID() string {
	id := make([]byte, 6)
	rand.Read(id)
	return hex.EncodeToString(id)
}

// checkHostname rejects a name that sethostname(2) or resolvers would not take.
func checkHostname(name string) error {
	if len(name) > 64 { // HOST_NAME_MAX
		return fmt.Errorf("--hostname %q: longer than 64 characters", name)
	}
	if !validHostname.MatchString(name) {
		return fmt.Errorf("--hostname %q: want letters, digits, hyphens and dots", name)
	}
	return nil
}

// volume is a bind mount of the host's path host at ctr in the container.
type volume struct {
	host, ctr string
	readOnly  bool
}

// parseVolume reads Docker's HOST:CTR[:ro|:rw] syntax.
func parseVolume(spec string) (volume, error) {
	parts := strings.Split(spec, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return volume{}, fmt.Errorf("--volume %q: want HOST:CTR[:ro]", spec)
	}
	v := volume{host: parts[0], ctr: parts[1]}
	if len(parts) == 3 {
		switch parts[2] {
		case "ro":
			v.readOnly = true
		case "rw":
		default:
			return volume{}, fmt.Errorf("--volume %q: mode %q is neither ro nor rw", spec, parts[2])
		}
	}
	if !filepath.IsAbs(v.host) || !filepath.IsAbs(v.ctr) {
		return volume{}, fmt.Errorf("--volume %q: both paths must be absolute", spec)
	}
	if filepath.Clean(v.ctr) == "/" {
		return volume{}, fmt.Errorf("--volume %q: cannot mount over the container's root", spec)
	}
	return v, nil
}

// startContainer re-executes this binary as "child". A Go program cannot
// fork: the runtime's threads would not survive it. Instead the kernel
// starts the child in new namespaces (clone(2) with the CLONE_NEW* flags)
// and the child, a fresh Go program, finishes the set-up from inside.
//
// The child first waits on a pipe until the parent has put it into the
// container's cgroup, so that nothing it does, and nothing the command
// does, escapes the limits.
//
//exercise:02 start /proc/self/exe with childArgs in the new namespaces (SysProcAttr.Cloneflags), forward
//exercise:02 signals with catchSignals and forwardSignals, wait for it and return exitStatusOf its state; see
//exercise:02 "Why a Go runtime re-executes itself"
func startContainer(childArgs []string, id string, limits limits, verbose bool) error {
	signals := catchSignals()
	cg, err := newCgroup(id, limits, verbose)
	if err != nil {
		return err
	}
	defer cg.remove()
	ready, release, err := os.Pipe()
	if err != nil {
		return err
	}
	c := exec.Command("/proc/self/exe", childArgs...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	c.ExtraFiles = []*os.File{ready} // fd 3 in the child
	c.SysProcAttr = &unix.SysProcAttr{Cloneflags: namespaces}
	err = c.Start()
	ready.Close()
	if err != nil {
		release.Close()
		return fmt.Errorf("clone: %w", err)
	}
	if err := cg.join(c.Process.Pid); err != nil {
		release.Close() // the child sees EOF and gives up
		c.Wait()
		return err
	}
	release.Write([]byte{1})
	release.Close()
	forwardSignals(signals, c.Process)
	if err := c.Wait(); c.ProcessState == nil {
		return fmt.Errorf("wait: %w", err)
	}
	cg.reportOOM()
	return exitStatusOf(c.ProcessState)
}

// catchSignals starts catching the signals to forward before the child
// exists: one arriving in between must not kill the runtime and leave the
// container running without it.
func catchSignals() chan os.Signal {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, forwardedSignals...)
	return signals
}

// forwardSignals passes the signals this runtime receives (Ctrl-C, kill)
// on to the container, which would otherwise never see them.
func forwardSignals(signals chan os.Signal, p *os.Process) {
	go func() {
		for sig := range signals {
			p.Signal(sig)
		}
	}()
}

// exitStatusOf is the shell's view of how the container ended: its exit
// status, or 128+N when signal N killed it.
func exitStatusOf(state *os.ProcessState) error {
	status := state.ExitCode()
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		status = 128 + int(ws.Signal())
	}
	if status == 0 {
		return nil
	}
	return containerStatus(status)
}

// containerStatus is the container's own non-zero exit status: passed on
// as it is, with no message.
type containerStatus int

func (s containerStatus) Error() string { return fmt.Sprintf("exit status %d", int(s)) }

// child runs inside the new namespaces: it sets the hostname, builds the
// container's mount table and root, then becomes the command. Its errors
// exit with Docker's statuses, which the parent passes on.
func child(ctx context.Context, cmd *cli.Command) error {
	rootfs, argv := cmd.Args().First(), cmd.Args().Slice()[1:]
	if err := waitForParent(); err != nil {
		return err
	}
	// First of all: nothing mounted from here on may reach the host.
	if err := makeMountsPrivate(); err != nil {
		return err
	}
	if err := setHostname(cmd.String("hostname")); err != nil {
		return err
	}
	if err := bindRootfs(rootfs); err != nil {
		return err
	}
	for _, spec := range cmd.StringSlice("volume") {
		v, _ := parseVolume(spec) // checked by run
		if err := mountVolume(rootfs, v); err != nil {
			return err
		}
	}
	if err := pivotRoot(rootfs); err != nil {
		return err
	}
	if err := mountProc(); err != nil {
		return err
	}
	if err := mountSys(); err != nil {
		return err
	}
	if err := mountDev(); err != nil {
		return err
	}
	return execCommand(argv)
}

// waitForParent blocks until the parent has finished the set-up only it
// can do from outside (the cgroup) and says so with one byte on fd 3. EOF
// without it means the parent failed or died: do not run unconfined.
func waitForParent() error {
	pipe := os.NewFile(3, "ready")
	defer pipe.Close()
	buf := make([]byte, 1)
	if n, _ := pipe.Read(buf); n != 1 {
		return errors.New("the runtime did not finish setting up the container")
	}
	return nil
}

// makeMountsPrivate stops mount events from propagating between this
// namespace and the host. The new namespace starts as a copy of the host's
// mounts, with the host's propagation: on systemd hosts "shared", so
// without this every mount below would appear on the host too.
//
//exercise:04 make every mount of the new namespace private (MS_REC|MS_PRIVATE on "/"), first of all, so that
//exercise:04 no mount below reaches the host; see "Propagation: how a careless namespace leaks"
func makeMountsPrivate() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("mount --make-rprivate /: %w", err)
	}
	return nil
}

// setHostname names the container. It changes only this UTS namespace:
// the host keeps its name.
//
//exercise:02 set the hostname with unix.Sethostname, and wrap its error with the call and the name; see "The
//exercise:02 namespace flags"
func setHostname(name string) error {
	if err := unix.Sethostname([]byte(name)); err != nil {
		return fmt.Errorf("sethostname %s: %w", name, err)
	}
	return nil
}

// bindRootfs mounts rootfs onto itself: pivot_root(2) needs the new root
// to be a mount point, and a plain folder is not one.
//
//exercise:04 bind-mount rootfs onto itself, recursively; see "pivot_root, not chroot"
func bindRootfs(rootfs string) error {
	if err := unix.Mount(rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("mount --rbind %s: %w", rootfs, err)
	}
	return nil
}

// mountVolume bind-mounts a host path into the rootfs, before pivot_root
// hides the host's paths. The mount point is created in the rootfs, so the
// image keeps an empty folder (or file) where the volume was.
//
//exercise:04 find the target with volumeTarget, create it with makeMountPoint, bind-mount the host path onto
//exercise:04 it, and make it read-only with unix.MountSetattr when asked; see "Volumes are bind mounts"
func mountVolume(rootfs string, v volume) error {
	target, err := volumeTarget(rootfs, v.ctr)
	if err != nil {
		return err
	}
	if err := makeMountPoint(v.host, target); err != nil {
		return err
	}
	if err := unix.Mount(v.host, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("mount --rbind %s %s: %w", v.host, target, err)
	}
	if v.readOnly {
		// MS_RDONLY on the bind mount itself is ignored. mount_setattr(2)
		// makes it read-only afterwards, with AT_RECURSIVE also every mount
		// below it, and keeps its other flags (nosuid, nodev...) as they are.
		attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
		if err := unix.MountSetattr(unix.AT_FDCWD, target, unix.AT_RECURSIVE, attr); err != nil {
			return fmt.Errorf("mount_setattr %s: %w", target, err)
		}
	}
	return nil
}

// volumeTarget is the volume's mount point seen from the host. We are still
// in the host's root here, so a symlink inside the rootfs (say /data ->
// /etc) would send the mount onto the host's /etc: refuse symlinks.
func volumeTarget(rootfs, ctr string) (string, error) {
	target := rootfs
	for _, part := range strings.Split(strings.Trim(filepath.Clean(ctr), "/"), "/") {
		target = filepath.Join(target, part)
		if info, err := os.Lstat(target); err == nil && info.Mode()&os.ModeSymlink != 0 {
			return "", fmt.Errorf("volume %s: %s is a symlink in the rootfs", ctr, target)
		}
	}
	return target, nil
}

// makeMountPoint creates an empty folder, or an empty file when the
// volume is a file, for the bind mount to cover.
func makeMountPoint(source, target string) error {
	info, err := os.Stat(source)
	if err != nil {
		return err
	}
	if info.IsDir() {
		return os.MkdirAll(target, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// pivotRoot makes rootfs the root of this mount namespace and detaches the
// old root. Unlike chroot, nothing of the host's tree is left to walk back
// to: after the detach, the host's mounts are gone from this namespace.
//
//exercise:04 pivot_root into rootfs with the old root on rootfs/.oldroot, chdir to "/", then detach /.oldroot
//exercise:04 (MNT_DETACH) and remove it; see "pivot_root, not chroot"
func pivotRoot(rootfs string) error {
	oldRoot := filepath.Join(rootfs, ".oldroot")
	if err := os.MkdirAll(oldRoot, 0o700); err != nil {
		return err
	}
	if err := unix.PivotRoot(rootfs, oldRoot); err != nil {
		os.Remove(oldRoot)
		return fmt.Errorf("pivot_root %s: %w", rootfs, err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	// MNT_DETACH: processes may still hold the old root open; detach it now
	// and let the kernel free it when they let go.
	if err := unix.Unmount("/.oldroot", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("umount -l /.oldroot: %w", err)
	}
	return os.Remove("/.oldroot")
}

// mountProc mounts a /proc that shows this PID namespace: now ps works.
//
//exercise:04 mount a new proc filesystem on /proc, nosuid, nodev, noexec, with mountFS; see "A /proc of its
//exercise:04 own, a small /dev, a read-only /sys"
func mountProc() error {
	return mountFS("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
}

// mountSys mounts /sys read-only: the container may look, not tune.
//
//exercise:04 mount sysfs on /sys, read-only, nosuid, nodev, noexec, with mountFS; see "A /proc of its own, a
//exercise:04 small /dev, a read-only /sys"
func mountSys() error {
	return mountFS("sysfs", "/sys", "sysfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
}

// devices are the character devices every program expects. The host's
// disks, memory (/dev/mem) and kernel log are not among them.
var devices = []struct {
	name         string
	major, minor uint32
}{
	{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
}

var devLinks = map[string]string{
	"ptmx": "pts/ptmx", "fd": "/proc/self/fd",
	"stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
}

// mountDev builds a minimal /dev on a tmpfs instead of exposing the host's.
//
//exercise:04 mount a tmpfs on /dev, mknod the devices (and chmod them 0666), make the devLinks symlinks, and
//exercise:04 mount a new devpts instance on /dev/pts and a tmpfs on /dev/shm; see "A /proc of its own, a
//exercise:04 small /dev, a read-only /sys"
func mountDev() error {
	if err := mountFS("tmpfs", "/dev", "tmpfs", unix.MS_NOSUID, "mode=755,size=65536k"); err != nil {
		return err
	}
	for _, d := range devices {
		path := "/dev/" + d.name
		if err := unix.Mknod(path, unix.S_IFCHR|0o666, int(unix.Mkdev(d.major, d.minor))); err != nil {
			return fmt.Errorf("mknod %s: %w", path, err)
		}
		// The umask took bits away from mknod's mode; put them back.
		if err := os.Chmod(path, 0o666); err != nil {
			return err
		}
	}
	for name, target := range devLinks {
		if err := os.Symlink(target, "/dev/"+name); err != nil {
			return err
		}
	}
	// newinstance: the container's ptys are its own, not the host's.
	if err := mountFS("devpts", "/dev/pts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return err
	}
	return mountFS("shm", "/dev/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777,size=65536k")
}

// mountFS mounts a filesystem, creating the mount point if the rootfs lacks it.
func mountFS(source, target, fstype string, flags uintptr, data string) error {
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(source, target, fstype, flags, data); err != nil {
		return fmt.Errorf("mount -t %s %s: %w", fstype, target, err)
	}
	return nil
}

// execCommand replaces this process with the command. The lookup happens
// after pivot_root, so PATH is searched inside the new root, not on the host.
func execCommand(argv []string) error {
	path, err := lookPath(argv[0])
	if err != nil {
		return err
	}
	// exec(2) replaces all of the Go runtime's threads at once; on success
	// it does not return, and the command's exit status is ours.
	if err := unix.Exec(path, argv, containerEnv); err != nil {
		return &execError{argv[0], err}
	}
	return nil
}

// lookPath searches the container's PATH, not the host's: os.Getenv("PATH")
// belongs to the host.
func lookPath(name string) (string, error) {
	os.Setenv("PATH", containerEnv[0][len("PATH="):])
	path, err := exec.LookPath(name)
	var lookErr *exec.Error
	if errors.As(err, &lookErr) {
		err = lookErr.Err // drop the second "exec:" prefix
	}
	if err != nil {
		return "", &execError{name, err}
	}
	return path, nil
}

// execError is a command that could not be started.
type execError struct {
	name string
	err  error
}

func (e *execError) Error() string { return fmt.Sprintf("exec %s: %v", e.name, e.err) }
func (e *execError) Unwrap() error { return e.err }

// exitStatus maps an error to Docker's exit statuses.
func exitStatus(err error) int {
	var execErr *execError
	if !errors.As(err, &execErr) {
		return exitRuntime
	}
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, unix.ENOENT) {
		return exitNotFound
	}
	return exitCannotExec
}
