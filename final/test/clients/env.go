package clients

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"skiff/test/hostenv"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Image is the name the image has in both clients.
const Image = "skiff.test/clients/busybox:latest"

// DockerRuntime is the name dockerd knows the runtime under test by:
// `docker run --runtime skiff`.
const DockerRuntime = "skiff"

// Config says what Start sets up.
type Config struct {
	// Runtime is the OCI runtime under test, an absolute path.
	Runtime string
	// Rootfs is the folder the image is made of.
	Rootfs string
	// Docker starts dockerd too, on top of the containerd.
	Docker bool
	// LogCalls has the clients call the runtime through a script that
	// appends each call's arguments to a file (Env.Calls). It costs a
	// shell's start at every call: off for timings.
	LogCalls bool
	// LogDir, if set, receives the daemons' logs and the runtime's calls
	// when the Env stops.
	LogDir string
	// Logf reports progress; nil is quiet.
	Logf func(format string, args ...any)
}

// Env is a containerd, and with Config.Docker a dockerd on top of it, of a
// run's own: their folders and sockets are in Dir, their containers'
// cgroups under /Namespace and /DockerCgroupParent, and the image Image is
// in both. Stop removes it all.
type Env struct {
	// Dir is the run's folder, which Stop removes.
	Dir string
	// Namespace is ctr's containerd namespace; containerd names a
	// container's cgroup /Namespace/ID.
	Namespace string
	// DockerCgroupParent holds the Docker containers' cgroups.
	DockerCgroupParent string
	// StateDir is containerd's state folder: a task's bundle is
	// StateDir/io.containerd.runtime.v2.task/NAMESPACE/ID.
	StateDir string
	// RuncRoot is the runtime's --root for ctr's containers (the runtime
	// keeps them in RuncRoot/Namespace); dockerd's are under
	// Dir/docker/exec/runtime-*.
	RuncRoot string

	cfg            Config
	runtime        string // what the clients call: Config.Runtime or the script that logs calls
	calls          string // the file the script appends to
	containerdSock string
	dockerSock     string
	daemons        []*daemon // started, in order
	made           []string  // shared folders of the host that did not exist before, made by the daemons
	stopOnce       sync.Once
	stopCalled     atomic.Bool
	leftovers      []string
	stopErr        error
}

// daemon is a started containerd or dockerd.
type daemon struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed once it has exited
}

// sharedDirs are folders outside Dir that the daemons make, whatever
// their settings: the shims' sockets' folder (containerd 1.6 fixes it)
// and dockerd's plugin sockets' folder. Stop removes those it made, if
// empty: other daemons of the host may use them.
var sharedDirs = []string{"/run/containerd/s", "/run/containerd", "/run/docker/plugins", "/run/docker"}

// Start starts containerd (and dockerd) in a new folder under the system's
// temporary folder and imports the image. On error, what it started is
// stopped and removed.
func Start(ctx context.Context, cfg Config) (env *Env, err error) {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if err := checkStart(cfg); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "skiff-clients-")
	if err != nil {
		return nil, err
	}
	// Searchable by all, as /var/lib/containerd is: root in a container
	// with a user namespace is another user here, and its runtime must
	// reach the bundle's rootfs below.
	if err := os.Chmod(dir, 0o711); err != nil {
		return nil, err
	}
	// Named after this process: runs at the same time do not share
	// cgroups, and a leftover says whose it was.
	name := fmt.Sprintf("skiff-clients-%d", os.Getpid())
	e := &Env{
		Dir:                dir,
		Namespace:          name,
		DockerCgroupParent: "/" + name + "-docker",
		StateDir:           filepath.Join(dir, "containerd", "state"),
		RuncRoot:           filepath.Join(dir, "runtime"),
		cfg:                cfg,
		runtime:            cfg.Runtime,
		calls:              filepath.Join(dir, "runtime-calls"),
		containerdSock:     filepath.Join(dir, "containerd", "containerd.sock"),
		dockerSock:         filepath.Join(dir, "docker", "docker.sock"),
	}
	for _, d := range sharedDirs {
		if _, err := os.Lstat(d); errors.Is(err, os.ErrNotExist) {
			e.made = append(e.made, d)
		}
	}
	defer func() {
		if err != nil {
			e.Stop()
			env = nil
		}
	}()
	if err := os.Chmod(dir, 0o755); err != nil {
		return e, err
	}
	if cfg.LogCalls {
		if err := e.writeCallLogger(); err != nil {
			return e, err
		}
	}
	start := time.Now()
	if err := e.startContainerd(ctx); err != nil {
		return e, err
	}
	if err := e.importImage(ctx); err != nil {
		return e, err
	}
	cfg.Logf("containerd ready with the image in %.1fs", time.Since(start).Seconds())
	if cfg.Docker {
		start = time.Now()
		if err := e.startDockerd(ctx); err != nil {
			return e, err
		}
		cfg.Logf("dockerd ready with the image in %.1fs", time.Since(start).Seconds())
	}
	return e, nil
}

// checkStart checks, before anything starts, what Start needs.
func checkStart(cfg Config) error {
	if os.Geteuid() != 0 {
		return errors.New("the client tests need root: they start containerd and dockerd")
	}
	if !filepath.IsAbs(cfg.Runtime) {
		return fmt.Errorf("runtime %q: want an absolute path", cfg.Runtime)
	}
	if err := unix.Access(cfg.Runtime, unix.X_OK); err != nil {
		return fmt.Errorf("runtime %s: %w", cfg.Runtime, err)
	}
	if _, err := os.Lstat(filepath.Join(cfg.Rootfs, "bin", "sh")); err != nil {
		return fmt.Errorf("rootfs %s: no shell: %w", cfg.Rootfs, err)
	}
	for _, pkg := range Packages {
		for _, p := range programs[pkg] {
			if _, err := exec.LookPath(p); err != nil {
				return fmt.Errorf("%s (package %s) missing: %w", p, pkg, err)
			}
		}
	}
	return nil
}

// writeCallLogger writes the script the clients call as the runtime.
func (e *Env) writeCallLogger() error {
	e.runtime = filepath.Join(e.Dir, "runtime-under-test")
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$*\" >> %s\nexec %s \"$@\"\n", quote(e.calls), quote(e.cfg.Runtime))
	return os.WriteFile(e.runtime, []byte(script), 0o755)
}

// Calls are the runtime's calls so far, one line of arguments each, when
// Config.LogCalls is set.
func (e *Env) Calls() []string {
	data, _ := os.ReadFile(e.calls)
	return strings.FieldsFunc(string(data), func(r rune) bool { return r == '\n' })
}

// containerdConfig keeps everything of containerd's in the run's folder
// (grpc, ttrpc and debug sockets, root, state, the opt plugin's folder)
// and leaves out the plugins the tests need not: Kubernetes' CRI and the
// snapshotters that look for their file systems at start.
const containerdConfig = `version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.internal.v1.opt", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[debug]
  address = ""

[plugins."io.containerd.monitor.v1.cgroups"]
  no_prometheus = true
`

func (e *Env) startContainerd(ctx context.Context) error {
	dir := filepath.Join(e.Dir, "containerd")
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return err
	}
	config := filepath.Join(dir, "config.toml")
	text := fmt.Sprintf(containerdConfig, filepath.Join(dir, "root"), e.StateDir, e.containerdSock, e.containerdSock+".ttrpc")
	if err := os.WriteFile(config, []byte(text), 0o600); err != nil {
		return err
	}
	// The runtime under test is also the daemons' "runc", first on their
	// PATH (startDaemon): ctr 1.6 loses --runc-binary when --uidmap makes it set task
	// options of its own, and its shim then runs the "runc" it finds.
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o700); err != nil {
		return err
	}
	if err := os.Symlink(e.runtime, filepath.Join(bin, "runc")); err != nil {
		return err
	}
	d, err := e.startDaemon("containerd", filepath.Join(e.Dir, "containerd.log"), "containerd", "--config", config)
	if err != nil {
		return err
	}
	return e.waitReady(ctx, d, e.containerdSock, e.Ctr(ctx, "version"))
}

func (e *Env) startDockerd(ctx context.Context) error {
	dir := filepath.Join(e.Dir, "docker")
	if err := os.MkdirAll(filepath.Join(dir, "client"), 0o700); err != nil {
		return err
	}
	// dockerd 20.10 writes its identity key to /etc/docker/key.json
	// unless told otherwise, and only its configuration file can.
	config := filepath.Join(dir, "daemon.json")
	data, err := json.Marshal(map[string]string{"deprecated-key-path": filepath.Join(dir, "key.json")})
	if err != nil {
		return err
	}
	if err := os.WriteFile(config, data, 0o600); err != nil {
		return err
	}
	d, err := e.startDaemon("dockerd", filepath.Join(e.Dir, "dockerd.log"), "dockerd",
		"--config-file", config,
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"),
		"--host", "unix://"+e.dockerSock,
		"--containerd", e.containerdSock,
		"--iptables=false", "--ip-masq=false", "--ip-forward=false", "--bridge=none",
		"--add-runtime", DockerRuntime+"="+e.runtime,
		"--cgroup-parent", e.DockerCgroupParent,
		"--shutdown-timeout", "3",
	)
	if err != nil {
		return err
	}
	if err := e.waitReady(ctx, d, e.dockerSock, e.Docker(ctx, "version")); err != nil {
		return err
	}
	return run(e.Docker(ctx, "load", "--quiet", "--input", filepath.Join(e.Dir, "image.tar")))
}

// startDaemon starts a daemon in a process group of its own, so that the
// terminal's Ctrl-C reaches only the test, which then stops the daemons
// in order.
func (e *Env) startDaemon(name, log string, args ...string) (*daemon, error) {
	out, err := os.Create(log)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	d := &daemon{name: name, log: log, done: make(chan struct{})}
	d.cmd = exec.Command(args[0], args[1:]...)
	d.cmd.Env = append(os.Environ(), "PATH="+filepath.Join(e.Dir, "containerd", "bin")+":"+os.Getenv("PATH"))
	d.cmd.Stdout, d.cmd.Stderr = out, out
	d.cmd.SysProcAttr = &unix.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	e.daemons = append(e.daemons, d)
	go func() {
		d.cmd.Wait()
		close(d.done)
	}()
	return d, nil
}

// waitReady waits until the daemon listens on sock and check succeeds.
func (e *Env) waitReady(ctx context.Context, d *daemon, sock string, check *exec.Cmd) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		select {
		case <-d.done:
			return fmt.Errorf("%s exited: %s (log %s)", d.name, d.cmd.ProcessState, tail(d.log))
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no socket %s after 60s: %s", d.name, sock, tail(d.log))
		}
	}
	return run(check)
}

// importImage writes the image archive from the rootfs and imports it
// into containerd, in ctr's namespace; dockerd loads the same file.
func (e *Env) importImage(ctx context.Context) error {
	archive := filepath.Join(e.Dir, "image.tar")
	f, err := os.Create(archive)
	if err != nil {
		return err
	}
	if err := WriteImage(f, e.cfg.Rootfs, Image); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return run(e.Ctr(ctx, "images", "import", archive))
}

// Ctr is the command ctr ARGS, talking to the run's containerd in
// Namespace.
func (e *Env) Ctr(ctx context.Context, args ...string) *exec.Cmd {
	return e.ctrIn(ctx, e.Namespace, args...)
}

// ctrIn is ctr ARGS in the containerd namespace ns.
func (e *Env) ctrIn(ctx context.Context, ns string, args ...string) *exec.Cmd {
	return client(ctx, "ctr", append([]string{"--address", e.containerdSock, "--namespace", ns}, args...)...)
}

// client is a command of a client, in a process group of its own: the
// terminal's Ctrl-C reaches only the test, which ends the clients it ran
// through their contexts and then cleans up, in order.
func client(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &unix.SysProcAttr{Setpgid: true}
	return cmd
}

// CtrRun is `ctr run ARGS` with the runtime under test, its --root and
// the FIFOs of the containers' stdio in Dir.
func (e *Env) CtrRun(ctx context.Context, args ...string) *exec.Cmd {
	return e.CtrRunWith(ctx, e.runtime, args...)
}

// CtrRunWith is CtrRun with another runtime, an absolute path: the
// benchmark compares runtimes under one containerd.
func (e *Env) CtrRunWith(ctx context.Context, runtime string, args ...string) *exec.Cmd {
	return e.Ctr(ctx, append([]string{"run", "--runc-binary", runtime, "--runc-root", e.RuncRoot, "--fifo-dir", e.FIFODir()}, args...)...)
}

// FIFODir is where ctr makes the FIFOs of its containers' stdio (ctr
// run's and ctr task exec's --fifo-dir).
func (e *Env) FIFODir() string { return filepath.Join(e.Dir, "fifo") }

// Docker is the command docker ARGS, talking to the run's dockerd, with a
// client configuration folder of its own.
func (e *Env) Docker(ctx context.Context, args ...string) *exec.Cmd {
	cmd := client(ctx, Docker, append([]string{"--host", "unix://" + e.dockerSock}, args...)...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(e.Dir, "docker", "client"))
	return cmd
}

// DockerRun is `docker run --runtime skiff ARGS`.
func (e *Env) DockerRun(ctx context.Context, args ...string) *exec.Cmd {
	return e.Docker(ctx, append([]string{"run", "--runtime", DockerRuntime}, args...)...)
}

// run runs cmd; its error has the command's last line of output.
func run(cmd *exec.Cmd) error {
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, hostenv.LastLine(string(out)))
	}
	return nil
}

// tail is the end of a daemon's log, for errors.
func tail(log string) string {
	data, _ := os.ReadFile(log)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return strings.Join(lines[max(0, len(lines)-5):], "\n")
}

// Stop removes the containers that are left through the clients, stops
// the daemons and removes everything of theirs from the host: processes,
// shim sockets, mounts, cgroups, the run's folder. It returns what it
// found left that the clients or the runtime should have removed
// themselves (a container's cgroup or mount, a shim, the runtime's state
// of a container); the error is for what it could not remove. Calls after
// the first return the first's result.
func (e *Env) Stop() (leftovers []string, err error) {
	e.stopCalled.Store(true)
	e.stopOnce.Do(func() { e.leftovers, e.stopErr = e.stop() })
	return e.leftovers, e.stopErr
}

// stopped tells whether Stop was called.
func (e *Env) stopped() bool { return e.stopCalled.Load() }

func (e *Env) stop() ([]string, error) {
	var left []string
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e.removeContainers(ctx)
	for _, d := range slices.Backward(e.daemons) {
		if err := d.stop(); err != nil {
			errs = append(errs, err)
		}
	}

	// Shims outlive containerd by design; those of containers the
	// clients could not delete are still there.
	shims := processes(func(args []string) bool {
		return strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") && flag(args, "-address") == e.containerdSock
	})
	for _, p := range shims {
		left = append(left, "shim "+p.String())
	}
	killAndWait(shims)
	for _, p := range shims {
		os.Remove(shimSocket(e.containerdSock, flag(p.args, "-namespace"), flag(p.args, "-id")))
	}
	// Whatever still runs in the containers' cgroups, or from the
	// run's folder.
	var groups []string
	for _, parent := range []string{e.Namespace, e.DockerCgroupParent} {
		dirs, err := cgroupTree(parent)
		if err != nil {
			errs = append(errs, err)
		}
		groups = append(groups, dirs...)
	}
	for _, dir := range groups {
		os.WriteFile(filepath.Join(dir, "freezer.state"), []byte("THAWED"), 0)
	}
	inGroups := cgroupProcs(groups)
	strays := processes(func(args []string) bool { return strings.Contains(strings.Join(args, " "), e.Dir+"/") })
	for _, p := range strays {
		left = append(left, "process "+p.String())
	}
	for _, pid := range inGroups {
		left = append(left, fmt.Sprintf("process %d in a container's cgroup", pid))
		strays = append(strays, process{pid: pid})
	}
	killAndWait(strays)

	// The runtime deletes each container's state, mounts and cgroup.
	for _, pattern := range []string{filepath.Join(e.RuncRoot, "*", "*"), filepath.Join(e.Dir, "docker", "exec", "runtime-*", "*", "*")} {
		states, _ := filepath.Glob(pattern)
		for _, s := range states {
			left = append(left, "runtime state "+s)
		}
	}
	points, err := hostenv.UnmountUnder(e.Dir)
	for _, p := range points {
		left = append(left, "mount "+p)
	}
	if err != nil {
		errs = append(errs, err)
	}
	left = append(left, leftCgroups(groups, "/"+e.Namespace, e.DockerCgroupParent)...)
	for _, dir := range groups {
		if err := removeCgroup(dir); err != nil {
			errs = append(errs, err)
		}
	}

	if e.cfg.LogDir != "" {
		if err := e.saveLogs(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := hostenv.RemoveAll(e.Dir); err != nil {
		errs = append(errs, err)
	}
	for _, d := range e.made {
		unix.Rmdir(d) // only if empty: another containerd may use it now
	}
	return left, errors.Join(errs...)
}

// removeContainers deletes, through the clients, the containers left in
// dockerd and containerd: a test that failed half-way may leave some. The
// runtime's delete --force runs for each.
func (e *Env) removeContainers(ctx context.Context) {
	for _, d := range e.daemons {
		if d.name == "dockerd" && !d.exited() {
			out, _ := e.Docker(ctx, "ps", "--all", "--quiet").Output()
			if ids := strings.Fields(string(out)); len(ids) > 0 {
				e.cfg.Logf("removing docker containers %s", strings.Join(ids, " "))
				quiet(e.Docker(ctx, append([]string{"rm", "--force"}, ids...)...))
			}
		}
	}
	if len(e.daemons) == 0 || e.daemons[0].exited() {
		return
	}
	for _, ns := range []string{e.Namespace, "moby"} {
		out, _ := e.ctrIn(ctx, ns, "containers", "list", "--quiet").Output()
		for _, id := range strings.Fields(string(out)) {
			e.cfg.Logf("removing containerd container %s/%s", ns, id)
			quiet(e.ctrIn(ctx, ns, "tasks", "delete", "--force", id))
			quiet(e.ctrIn(ctx, ns, "containers", "delete", id))
		}
	}
}

// quiet runs cmd for cleanup: a failure shows later as a leftover.
func quiet(cmd *exec.Cmd) { cmd.Run() }

// exited tells whether the daemon has exited.
func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// stop stops the daemon with SIGTERM, then SIGKILL after 20 s.
func (d *daemon) stop() error {
	if d.exited() {
		return nil
	}
	d.cmd.Process.Signal(unix.SIGTERM)
	select {
	case <-d.done:
		return nil
	case <-time.After(20 * time.Second):
	}
	d.cmd.Process.Kill()
	<-d.done
	return fmt.Errorf("%s did not stop in 20s after SIGTERM: killed", d.name)
}

// saveLogs copies the daemons' logs and the runtime's calls to LogDir.
func (e *Env) saveLogs() error {
	if err := os.MkdirAll(e.cfg.LogDir, 0o755); err != nil {
		return err
	}
	for _, f := range []string{"containerd.log", "dockerd.log", "runtime-calls"} {
		data, err := os.ReadFile(filepath.Join(e.Dir, f))
		if err != nil {
			continue // not started, or no call
		}
		if err := os.WriteFile(filepath.Join(e.cfg.LogDir, f), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
