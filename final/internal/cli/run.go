package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v3"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"skiff/internal/cgroups"
	"skiff/internal/clidoc"
	"skiff/internal/container"
	"skiff/internal/exit"
	"skiff/internal/image"
	"skiff/internal/lifecycle"
	"skiff/internal/network"
	"skiff/internal/terminal"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "create and start a container",
		ArgsUsage: "IMAGE|ROOTFS [COMMAND [ARG...]]",
		// Flags end at the image: "-c" in "run busybox sh -c ..." is sh's.
		StopOnNthArg: new(1),
		OnUsageError: clidoc.UsageError,
		// -it is -i -t, as in Docker.
		UseShortOptionHandling: true,
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "keep stdin open and connected"},
			&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "give the container a terminal"},
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "run in the background and print the container ID"},
			&cli.StringFlag{Name: "name", Usage: "name the container"},
			&cli.BoolFlag{Name: "rm", Usage: "remove the container when it exits"},
			&cli.StringFlag{Name: "hostname", Aliases: []string{"h"}, Usage: "the container's hostname (default: the start of its ID)"},
			&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set `KEY=VALUE` in the environment (KEY alone: the host's value)"},
			&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "the command's working `DIR` inside"},
			&cli.StringFlag{Name: "entrypoint", Usage: "run `COMMAND` instead of the image's entrypoint (and without its default arguments)"},
			&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "run as `UID[:GID]`"},
			&cli.StringSliceFlag{Name: "volume", Aliases: []string{"v"}, Usage: "mount `[HOST:|NAME:]CTR[:ro]`: a host folder, a named volume, or a new anonymous volume (repeatable)"},
			&cli.StringFlag{Name: "network", Value: "bridge", Usage: "bridge, none, host, container:NAME, or a network's name"},
			&cli.StringFlag{Name: "ipc", Usage: "container:NAME to share that container's IPC namespace, host for the host's"},
			&cli.StringFlag{Name: "pid", Usage: "container:NAME to share that container's PID namespace, host for the host's"},
			&cli.StringFlag{Name: "memory", Aliases: []string{"m"}, Usage: "memory limit, e.g. 64m or 1g"},
			&cli.FloatFlag{Name: "cpus", Usage: "CPU limit in CPUs, e.g. 0.5"},
			&cli.IntFlag{Name: "pids-limit", Usage: "most processes and threads at once"},
			&cli.BoolFlag{Name: "read-only", Usage: "mount the container's root read-only"},
			&cli.BoolFlag{Name: "init", Usage: "run a tiny init as PID 1 that forwards signals and reaps orphans"},
		}, append(append(append(append(append(securityFlags(), moreRunFlags()...), volumeFlags()...), usernsFlag()), networkFlags()...), restartFlags()...)...),
		Action: command(runAction),
	}
}

func runAction(ctx context.Context, cmd *cli.Command, e *env) error {
	if err := needArgs(cmd, 1, "[flags] IMAGE|ROOTFS [COMMAND [ARG...]]"); err != nil {
		return err
	}
	if err := needTerminal(cmd); err != nil {
		return err
	}
	var waitSignals func() <-chan os.Signal
	if !cmd.Bool("detach") {
		waitSignals = catchSignals()
	}
	cfg, release, err := e.configFromFlags(cmd)
	if err != nil {
		return err
	}
	defer release() // the image's layers, held until the container's config names them
	c, err := e.containers.Create(cfg)
	if err != nil {
		e.removeAnonymousVolumes(cfg)
		return err
	}
	if cmd.Bool("detach") || cfg.Restart.Name != "" { // a restarting container outlives this process too
		if err := e.startDetached(c); err != nil {
			if errors.Is(err, errNoMonitor) { // nothing to keep of a container never started
				e.containers.Remove(c)
				e.removeAnonymousVolumes(cfg)
			}
			return err
		}
		if !cmd.Bool("detach") {
			c.Release() // the monitor's now
			return e.attach(c, attachOptions{stdin: cmd.Bool("interactive"), sigProxy: true})
		}
		fmt.Println(c.Config.ID)
		return nil
	}
	err = e.runForeground(c, cmd.Bool("interactive"), waitSignals())
	e.autoRemoveVolumes(c)
	return err
}

// configFromFlags turns the flags into a container's configuration,
// checking everything before anything is created. The image's layers
// are held until release is called.
func (e *env) configFromFlags(cmd *cli.Command) (cfg container.Config, release func(), err error) {
	img, err := e.resolveImage(cmd.Args().First())
	if err != nil {
		return cfg, nil, err
	}
	if cfg, err = e.configOf(cmd, img); err != nil {
		img.release()
		return cfg, nil, err
	}
	return cfg, img.release, nil
}

func (e *env) configOf(cmd *cli.Command, img resolved) (cfg container.Config, err error) {
	cfg = container.Config{
		Name:        cmd.String("name"),
		Created:     time.Now(),
		ReadOnly:    cmd.Bool("read-only"),
		Init:        cmd.Bool("init"),
		AutoRemove:  cmd.Bool("rm"),
		Interactive: cmd.Bool("interactive"),
	}
	cfg.Image, cfg.Layers = img.name, img.layers
	if cfg.Process, err = processFromFlags(cmd, img.config, img.layers); err != nil {
		return cfg, err
	}
	cfg.Hostname = cmd.String("hostname")
	if cfg.Limits, err = limitsFromFlags(cmd); err != nil {
		return cfg, err
	}
	if cfg.Security, err = securityFromFlags(cmd); err != nil {
		return cfg, err
	}
	if cfg.Ulimits, err = ulimitsFromFlags(cmd); err != nil {
		return cfg, err
	}
	cfg.Mounts = append(cfg.Mounts, tmpfsFromFlags(cmd)...)
	if cfg.Devices, err = devicesFromFlags(cmd); err != nil {
		return cfg, err
	}
	if cfg.UserNS, err = userNSFromFlags(cmd); err != nil {
		return cfg, err
	}
	if cfg.Network, err = e.networkFromFlags(cmd, img.config); err != nil {
		return cfg, err
	}
	if cfg.Network.Mode == container.HostNetwork && cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname() // the host's network, the host's name, as in Docker
	}
	if cfg.IPC, err = e.sharedWith("ipc", cmd.String("ipc")); err != nil {
		return cfg, err
	}
	if cfg.PID, err = e.sharedWith("pid", cmd.String("pid")); err != nil {
		return cfg, err
	}
	if cfg.Restart, err = restartFromFlags(cmd); err != nil {
		return cfg, err
	}
	return cfg, e.mountsFromFlags(cmd, &cfg, img.layers) // last: it creates volumes
}

// needTerminal refuses -it when stdin is not a terminal (but with -d:
// `skiff attach` brings one later), as Docker does:
// the container's terminal would wait forever for keys that never come.
func needTerminal(cmd *cli.Command) error {
	if cmd.Bool("tty") && cmd.Bool("interactive") && !cmd.Bool("detach") && !term.IsTerminal(int(os.Stdin.Fd())) {
		return errors.New("the input device is not a TTY: -t needs a terminal on stdin (leave out -t to pipe input)")
	}
	return nil
}

// resolved is the root filesystem a container runs from.
type resolved struct {
	name    string
	layers  []string
	config  image.Config
	release func() // lets go of the image's layers
}

// resolveImage takes an absolute path or one that starts with "./" as a
// one-layer image (a root filesystem folder), anything else as an image
// of the store; "busybox" is imported on first use. A bare relative path
// is refused: "../../etc" must not quietly become the host's /etc.
func (e *env) resolveImage(ref string) (resolved, error) {
	if ref == "." || strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, "./") {
		info, err := os.Stat(ref)
		if err != nil || !info.IsDir() {
			return resolved{}, fmt.Errorf("rootfs %s: not a folder", ref)
		}
		abs, _ := filepath.Abs(ref)
		if strings.ContainsAny(abs, ":,") {
			return resolved{}, fmt.Errorf("rootfs %s: overlay cannot take a path with ':' or ','", abs)
		}
		return resolved{name: abs, layers: []string{abs}, release: func() {}}, nil
	}
	if _, err := image.NormalizeName(ref); err != nil {
		if info, statErr := os.Stat(ref); statErr == nil && info.IsDir() {
			return resolved{}, fmt.Errorf("%s is not an image name: to run the folder, give it as ./%s or as an absolute path", ref, filepath.Clean(ref))
		}
		return resolved{}, err
	}
	img, release, err := e.images.Hold(ref)
	if errors.Is(err, image.ErrNotFound) && (ref == "busybox" || ref == "busybox:latest") && DefaultBusybox != "" {
		fmt.Fprintf(os.Stderr, "skiff: importing the busybox image from %s\n", DefaultBusybox)
		if _, err = e.images.ImportDir(DefaultBusybox, "busybox"); err == nil {
			img, release, err = e.images.Hold(ref)
		}
	}
	if errors.Is(err, image.ErrNotFound) {
		return resolved{}, fmt.Errorf("unable to find image %q: skiff pull or skiff import it first", ref)
	}
	if err != nil {
		return resolved{}, err
	}
	return resolved{name: img.Name, layers: e.images.LayerDirs(img), config: img.Config, release: release}, nil
}

// defaultPath is the PATH of a container whose image sets none.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func processFromFlags(cmd *cli.Command, img image.Config, layers []string) (specs.Process, error) {
	entrypoint, command := img.Entrypoint, img.Cmd
	if cmd.IsSet("entrypoint") { // as in Docker, it resets the image's command too
		entrypoint, command = nil, nil
		if e := cmd.String("entrypoint"); e != "" {
			entrypoint = []string{e}
		}
	}
	if cmd.Args().Len() > 1 {
		command = cmd.Args().Slice()[1:]
	}
	p := specs.Process{
		Args:     append(slices.Clone(entrypoint), command...),
		Cwd:      "/",
		Terminal: cmd.Bool("tty"),
	}
	p.Env = mergeEnv([]string{defaultPath, "HOME=/root"}, img.Env)
	if p.Terminal {
		p.Env = mergeEnv(p.Env, []string{"TERM=xterm"})
	}
	fileEnv, err := envFiles(cmd)
	if err != nil {
		return p, err
	}
	var flagEnv []string
	for _, kv := range append(fileEnv, cmd.StringSlice("env")...) {
		if !strings.Contains(kv, "=") { // KEY alone: the host's value, if it has one
			value, ok := os.LookupEnv(kv)
			if !ok {
				continue
			}
			kv += "=" + value
		}
		flagEnv = append(flagEnv, kv)
	}
	p.Env = mergeEnv(p.Env, flagEnv)
	if img.WorkingDir != "" {
		p.Cwd = img.WorkingDir
	}
	if w := cmd.String("workdir"); w != "" {
		p.Cwd = w
	}
	user := img.User
	if cmd.IsSet("user") {
		user = cmd.String("user")
	}
	if user == "" {
		return p, nil // root
	}
	p.User, err = parseUser(user, imageUserDB(layers))
	return p, err
}

// mergeEnv sets each KEY=VALUE of add in env, replacing an earlier value
// in its place. It indexes the keys once: a run with thousands of -e
// flags must not take quadratic time.
func mergeEnv(env, add []string) []string {
	out := append([]string{}, env...)
	index := make(map[string]int, len(out)+len(add))
	for i, kv := range out {
		key, _, _ := strings.Cut(kv, "=")
		index[key] = i
	}
	for _, kv := range add {
		key, _, _ := strings.Cut(kv, "=")
		if i, ok := index[key]; ok {
			out[i] = kv
			continue
		}
		index[key] = len(out)
		out = append(out, kv)
	}
	return out
}

// userDB is the container's /etc/passwd and /etc/group, for user names.
type userDB struct{ passwd, group []byte }

// imageUserDB reads them from the topmost layer that has them.
func imageUserDB(layers []string) userDB {
	var db userDB
	for i := len(layers) - 1; i >= 0 && (db.passwd == nil || db.group == nil); i-- {
		if db.passwd == nil {
			db.passwd, _ = os.ReadFile(filepath.Join(layers[i], "etc", "passwd"))
		}
		if db.group == nil {
			db.group, _ = os.ReadFile(filepath.Join(layers[i], "etc", "group"))
		}
	}
	return db
}

// parseUser reads USER[:GROUP], each a number or a name from the
// container's files, as Docker does: a user's group is its primary group
// from /etc/passwd, or 0 for a number that is not listed there.
func parseUser(s string, db userDB) (specs.User, error) {
	if s == "" {
		return specs.User{}, nil
	}
	userPart, groupPart, hasGroup := strings.Cut(s, ":")
	uid, gid, err := lookupID(userPart, db.passwd, "/etc/passwd")
	if err == nil && hasGroup {
		gid, _, err = lookupID(groupPart, db.group, "/etc/group")
	}
	if err != nil {
		return specs.User{}, fmt.Errorf("invalid user %q: %w", s, err)
	}
	return specs.User{UID: uid, GID: gid}, nil
}

// lookupID finds name (or number) in a passwd or group file, whose lines
// are name:x:ID:GID...; it returns the ID and, for passwd, the GID.
func lookupID(name string, file []byte, path string) (id, gid uint32, err error) {
	n, numErr := strconv.ParseUint(name, 10, 32)
	for _, line := range strings.Split(string(file), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 3 || (f[0] != name && (numErr != nil || f[2] != name)) {
			continue
		}
		entryID, err1 := strconv.ParseUint(f[2], 10, 32)
		entryGID, err2 := uint64(0), error(nil)
		if len(f) > 3 && path == "/etc/passwd" {
			entryGID, err2 = strconv.ParseUint(f[3], 10, 32)
		}
		if err1 == nil && err2 == nil {
			return uint32(entryID), uint32(entryGID), nil
		}
	}
	if numErr == nil {
		return uint32(n), 0, nil
	}
	return 0, 0, fmt.Errorf("no %q in the container's %s", name, path)
}

func limitsFromFlags(cmd *cli.Command) (cgroups.Resources, error) {
	r := cgroups.Resources{CPUs: cmd.Float("cpus"), Pids: int64(cmd.Int("pids-limit"))}
	if m := cmd.String("memory"); m != "" && m != "0" { // 0: no limit, as in Docker
		bytes, err := parseSize(m)
		if err != nil {
			return r, fmt.Errorf("invalid --memory %q: %w", m, err)
		}
		if bytes < 4<<20 {
			return r, fmt.Errorf("invalid --memory %q: the minimum is 4m", m)
		}
		r.Memory = bytes
	}
	return r, nil
}

var sizePattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(?i)(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$`) })

// parseSize reads sizes as Docker writes them: 512k, 64m, 1.5g, 1024.
func parseSize(s string) (int64, error) {
	m := sizePattern().FindStringSubmatch(s)
	if m == nil {
		return 0, errors.New("want a size such as 64m, 512k or 1g")
	}
	n, _ := strconv.ParseFloat(m[1], 64)
	if m[2] != "" {
		for range strings.Index("kmgt", strings.ToLower(m[2])) + 1 {
			n *= 1024
		}
	}
	if n < 1 || n > 1<<62 {
		return 0, errors.New("want a size between 1 byte and 4 exabytes")
	}
	return int64(n), nil
}

func (e *env) networkFromFlags(cmd *cli.Command, img image.Config) (container.NetworkConfig, error) {
	n := container.NetworkConfig{Mode: container.BridgeNetwork, Name: network.DefaultName}
	switch mode := cmd.String("network"); {
	case mode == "bridge" || mode == "":
	case mode == "none":
		n.Mode, n.Name = container.NoNetwork, ""
	case mode == "host":
		n.Mode, n.Name = container.HostNetwork, ""
	case strings.HasPrefix(mode, "container:"):
		id, err := e.sharedWith("network", mode)
		if err != nil {
			return n, err
		}
		n.Mode, n.Name, n.Join = container.ContainerNetwork, "", id
	default:
		if _, err := e.networks.Get(mode); err != nil {
			return n, err
		}
		n.Name = mode
	}
	return n, e.networkExtrasFromFlags(cmd, &n, img)
}

// sharedWith reads "container:NAME" and returns that container's ID.
func (e *env) sharedWith(kind, value string) (string, error) {
	if value == "" || value == container.HostNamespace {
		return value, nil
	}
	name, ok := strings.CutPrefix(value, "container:")
	if !ok || name == "" {
		return "", fmt.Errorf("invalid --%s %q: want container:NAME or host", kind, value)
	}
	c, err := e.containers.Get(name)
	if err != nil {
		return "", err
	}
	if !c.State.Alive() {
		return "", fmt.Errorf("--%s %s: container %s is not running", kind, value, c.Config.Name)
	}
	return c.Config.ID, nil
}

// forwardedSignals are passed on to the container by a foreground run.
var forwardedSignals = []os.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2}

// catchSignals starts catching forwardedSignals in the background. For
// each signal, signal.Notify waits for a thread of the Go runtime to
// unblock it: about 0.4 ms for all six here, spent while the container is
// being created instead of before. The function it returns waits until
// they are caught, and gives the channel they arrive on.
func catchSignals() func() <-chan os.Signal {
	signals := make(chan os.Signal, 8)
	ready := make(chan struct{})
	go func() {
		signal.Notify(signals, forwardedSignals...)
		close(ready)
	}()
	return func() <-chan os.Signal {
		<-ready
		return signals
	}
}

// interrupted is the exit status for a signal that came before the
// container's process started, if one did: it stops the start, as it
// would have stopped this process without a handler.
func interrupted(signals <-chan os.Signal) error {
	select {
	case sig := <-signals:
		return &exit.Error{Code: 128 + int(sig.(unix.Signal))}
	default:
		return nil
	}
}

// runForeground starts the container with this terminal, waits for it and
// returns its exit status, forwarding it the signals this process gets.
// This process is the container's monitor.
func (e *env) runForeground(c *container.Container, interactive bool, signals <-chan os.Signal) error {
	if err := interrupted(signals); err != nil {
		e.containers.Remove(c)
		return err
	}
	stdio := lifecycle.IO{Stdout: os.Stdout, Stderr: os.Stderr}
	if interactive {
		stdio.Stdin = os.Stdin
	}
	p, err := e.runtime.Start(c, stdio)
	if err != nil {
		if c.Config.AutoRemove {
			e.containers.Remove(c)
		}
		return err
	}
	go func() {
		for sig := range signals {
			c.Kill(sig.(unix.Signal))
		}
	}()
	proxied := make(chan struct{})
	if p.Master != nil {
		go func() {
			in := os.Stdin
			if !interactive {
				in = nil
			}
			terminal.Proxy(p.Master, in, os.Stdout)
			close(proxied)
		}()
	} else {
		close(proxied)
	}
	status := e.runtime.Wait(c, p)
	select { // the rest of the container's output
	case <-proxied:
	case <-time.After(time.Second):
	}
	if status != 0 {
		return &exit.Error{Code: status}
	}
	return nil
}

// errNoMonitor: the monitor process could not be started.
var errNoMonitor = errors.New("start the monitor")

// startDetached starts a monitor process, which starts the container and
// stays with it, and returns once the container runs.
func (e *env) startDetached(c *container.Container) error {
	log, err := os.OpenFile(c.Path("log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	ready, readyChild, err := os.Pipe()
	if err != nil {
		return err
	}
	monitor := exec.Command(e.exe, append(e.global, "monitor", c.Config.ID)...)
	monitor.Stdout, monitor.Stderr = log, log
	// fd 3: how the start went; fd 4: the container's owner lock, which
	// the monitor holds from now on.
	monitor.ExtraFiles = []*os.File{readyChild, c.OwnerFile()}
	monitor.SysProcAttr = &unix.SysProcAttr{Setsid: true} // not killed with our session
	err = monitor.Start()
	readyChild.Close()
	if err != nil {
		return fmt.Errorf("%w: %w", errNoMonitor, err)
	}
	monitor.Process.Release()
	msg, _ := io.ReadAll(ready)
	if string(msg) != "ok" {
		code, text, _ := strings.Cut(string(msg), " ")
		status, convErr := strconv.Atoi(code)
		if convErr != nil {
			status, text = exit.Runtime, "the monitor died before the container started: "+string(msg)
		}
		return &exit.Error{Code: status, Msg: text}
	}
	return nil
}

func monitorCommand() *cli.Command {
	return &cli.Command{Name: "monitor", Hidden: true, Action: command(monitorAction)}
}

// monitorAction is the monitor of a detached container: it starts the
// container with its output going to the log, tells `skiff run -d` how it
// went, then waits to record the exit status and clean up.
func monitorAction(ctx context.Context, cmd *cli.Command, e *env) error {
	// Caught and dropped, not ignored: an ignored signal stays ignored
	// across exec, and the container's processes would inherit that.
	signal.Notify(make(chan os.Signal, 1), unix.SIGHUP, unix.SIGINT, unix.SIGTERM, unix.SIGPIPE)
	ready, owner := os.NewFile(3, "ready"), os.NewFile(4, "owner")
	unix.CloseOnExec(4) // the container's processes must not hold it
	c, err := e.containers.Get(cmd.Args().First())
	if err != nil {
		fmt.Fprintf(ready, "%d %v", exit.Runtime, err)
		return err
	}
	c.Adopt(owner)
	e.runtime.Monitor(c, ready, os.Stdout)
	e.autoRemoveVolumes(c)
	return nil
}
