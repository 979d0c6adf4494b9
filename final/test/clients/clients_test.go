//go:build clienttest

package clients

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// TestClients runs containers through ctr and Docker with the runtime in
// CLIENT_RUNTIME, one containerd and one dockerd for all the scenarios,
// then checks that nothing is left on the host. Needs root; `make
// client-tests` runs it.
//
//	CLIENT_RUNTIME=/abs/path  the runtime under test (default: runc from the PATH)
//	ROOTFS=/abs/path          the busybox root the image is made of (default: the repository's .cache/rootfs)
//	CLIENT_LOGS=DIR           keep the daemons' logs and the runtime's calls in DIR
func TestClients(t *testing.T) {
	ctx := testContext(t)
	e := startEnv(t, ctx, true)
	t.Run("ctr", func(t *testing.T) { runScenarios(t, ctx, e, ctrScenarios) })
	t.Run("docker", func(t *testing.T) { runScenarios(t, ctx, e, dockerScenarios) })
	t.Run("leftovers", func(t *testing.T) {
		left, err := e.Stop()
		for _, l := range left {
			if ctx.Err() != nil {
				// Cut short, a client leaves what it was making.
				t.Logf("interrupted; removed: %s", l)
				continue
			}
			t.Errorf("left on the host: %s", l)
		}
		if err != nil {
			t.Errorf("cleaning up: %v", err)
		}
		if _, err := os.Stat(e.Dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there: %v", e.Dir, err)
		}
		for _, parent := range []string{e.Namespace, e.DockerCgroupParent} {
			if dirs, _ := cgroupTree(parent); len(dirs) > 0 {
				t.Errorf("cgroups still there: %s", strings.Join(dirs, " "))
			}
		}
	})
}

// BenchmarkCtrRun times `ctr run --rm IMAGE ID /bin/true` with the
// runtime in CLIENT_RUNTIME, called directly (no script logging its
// calls), and reports the median and the fastest run besides the mean.
// For ten runs: go test -tags clienttest -run '^$' -bench CtrRun
// -benchtime 10x ./final/test/clients
func BenchmarkCtrRun(b *testing.B) {
	ctx := testContext(b)
	e := startEnv(b, ctx, false)
	run := func(id string) {
		if out, err := e.CtrRun(ctx, "--rm", Image, id, "/bin/true").CombinedOutput(); err != nil {
			b.Fatalf("ctr run: %v: %s", err, out)
		}
	}
	run("warm-up") // the first run reads the image's files from disk
	var times []time.Duration
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		run(fmt.Sprintf("bench-%d", i))
		times = append(times, time.Since(start))
	}
	reportTimes(b, "", times)
	left, err := e.Stop()
	if len(left) > 0 || err != nil {
		b.Errorf("left on the host: %v; cleaning up: %v", left, err)
	}
}

// scenario is one subtest: what it does with a client, and checks.
type scenario struct {
	name string
	run  func(t *testing.T, ctx context.Context, e *Env)
}

func runScenarios(t *testing.T, ctx context.Context, e *Env, scenarios []scenario) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			if ctx.Err() != nil {
				t.Skipf("not run: %v", context.Cause(ctx))
			}
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			sc.run(t, ctx, e)
		})
	}
}

// testContext ends when the run is interrupted: SIGINT (Ctrl-C reaches
// the whole process group, the go command ignores it), SIGTERM, or the go
// command gone (killed, it leaves this process running without a word).
// The harness then stops what runs and cleans up, rather than die and
// leave daemons and containers behind. It also ends a minute before the
// test's deadline, when go test would kill this process.
func testContext(t testing.TB) context.Context {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, unix.SIGTERM, unix.SIGHUP)
	t.Cleanup(stop)
	// Once go test is gone, writing to its pipe would kill this process
	// with SIGPIPE in the middle of cleaning up: the write fails instead.
	signal.Notify(make(chan os.Signal, 1), unix.SIGPIPE)
	ctx, cancel := context.WithCancelCause(ctx)
	t.Cleanup(func() { cancel(nil) })
	if deadline, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if d, ok := deadline.Deadline(); ok {
			var cancelDeadline context.CancelFunc
			ctx, cancelDeadline = context.WithDeadline(ctx, d.Add(-time.Minute))
			t.Cleanup(cancelDeadline)
		}
	}
	parent := os.Getppid()
	go func() {
		for ctx.Err() == nil {
			if os.Getppid() != parent {
				cancel(errors.New("go test is gone"))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	return ctx
}

// startEnv installs the clients when missing and starts them with the
// runtime under test; the test's cleanup stops them.
func startEnv(t testing.TB, ctx context.Context, docker bool) *Env {
	if os.Geteuid() != 0 {
		t.Fatal("the client tests need root: run make client-tests as root")
	}
	if err := Install(t.Logf); err != nil {
		t.Fatal(err)
	}
	runtime := os.Getenv("CLIENT_RUNTIME")
	if runtime == "" {
		path, err := exec.LookPath("runc")
		if err != nil {
			t.Fatalf("no CLIENT_RUNTIME, and no runc: %v", err)
		}
		if runtime, err = filepath.Abs(path); err != nil {
			t.Fatal(err)
		}
	}
	version, _ := exec.Command(runtime, "--version").Output()
	t.Logf("runtime under test: %s (%s)", runtime, firstLine(string(version)))
	rootfs := os.Getenv("ROOTFS")
	if rootfs == "" {
		root, err := repoRoot()
		if err != nil {
			t.Fatal(err)
		}
		rootfs = filepath.Join(root, ".cache", "rootfs")
	}
	e, err := Start(ctx, Config{
		Runtime:  runtime,
		Rootfs:   rootfs,
		Docker:   docker,
		LogCalls: docker, // the tests check the calls; the benchmark times the runtime alone
		LogDir:   os.Getenv("CLIENT_LOGS"),
		Logf:     t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if e.stopped() {
			return // the test stopped it and checked what was left
		}
		if left, err := e.Stop(); len(left) > 0 || err != nil {
			t.Logf("cleaned up after a failed or interrupted run: left %v; %v", left, err)
		}
	})
	return e
}

// repoRoot is the folder above this one that holds go.work.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("no go.work above the working folder: set ROOTFS")
		}
		dir = up
	}
}

func firstLine(s string) string { return strings.TrimSpace(strings.SplitN(s, "\n", 2)[0]) }

// result is how a command ended.
type result struct {
	stdout, stderr string
	code           int // exit code; -1 if killed by a signal
}

// runCmd runs cmd to its end; an error other than a non-zero exit stops
// the test.
func runCmd(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%s: %v", strings.Join(cmd.Args, " "), err)
	}
	return result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
}

// output runs cmd and returns its standard output; a failure stops the
// test, with the command's standard error.
func output(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	r := runCmd(t, cmd)
	if r.code != 0 {
		t.Fatalf("%s: exit code %d: %s%s", strings.Join(cmd.Args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// underPTY runs cmd with a new terminal as its stdio and controlling
// terminal, types input into it, and returns what the terminal showed
// and the exit code.
func underPTY(t *testing.T, cmd *exec.Cmd, input string) (string, int) {
	t.Helper()
	cmd.SysProcAttr = nil // a session of its own, not only a process group
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(cmd.Args, " "), err)
	}
	defer ptmx.Close()
	var out bytes.Buffer
	read := make(chan struct{})
	go func() {
		io.Copy(&out, ptmx) // ends with EIO once the command has closed the terminal
		close(read)
	}()
	if input != "" {
		if _, err := io.WriteString(ptmx, input); err != nil {
			t.Errorf("typing: %v", err)
		}
	}
	err = cmd.Wait()
	select {
	case <-read:
	case <-time.After(5 * time.Second):
		t.Errorf("terminal still open 5s after %s exited", cmd.Args[0])
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%s: %v", strings.Join(cmd.Args, " "), err)
	}
	return strings.ReplaceAll(out.String(), "\r", ""), cmd.ProcessState.ExitCode()
}

// background is a command that runs while the test goes on, its
// standard output read line by line.
type background struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	lines  []string
	stderr bytes.Buffer
	read   chan struct{} // closed at the end of its output
	done   chan struct{} // closed once it has exited
}

func startBackground(t *testing.T, cmd *exec.Cmd) *background {
	t.Helper()
	b := &background{cmd: cmd, read: make(chan struct{}), done: make(chan struct{})}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &b.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", strings.Join(cmd.Args, " "), err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			b.mu.Lock()
			b.lines = append(b.lines, sc.Text())
			b.mu.Unlock()
		}
		close(b.read)
		cmd.Wait()
		close(b.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-b.done
	})
	return b
}

// count is the number of lines it printed so far.
func (b *background) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.lines)
}

// output is what it printed so far.
func (b *background) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}

// waitLine waits until it prints the line.
func (b *background) waitLine(ctx context.Context, t *testing.T, line string, timeout time.Duration) {
	t.Helper()
	waitFor(ctx, t, timeout, fmt.Sprintf("%q from %s", line, b.cmd.Args[0]), func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return slices.Contains(b.lines, line)
	})
}

// wait waits for it to exit and returns its exit code.
func (b *background) wait(ctx context.Context, t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-b.done:
	case <-ctx.Done():
		t.Fatalf("%s: %v", strings.Join(b.cmd.Args, " "), context.Cause(ctx))
	case <-time.After(timeout):
		t.Fatalf("%s still running after %v; output: %s", strings.Join(b.cmd.Args, " "), timeout, b.output())
	}
	return b.cmd.ProcessState.ExitCode()
}

// waitFor polls cond until it holds, or fails the test after timeout or
// once ctx ends.
func waitFor(ctx context.Context, t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %v", what, timeout)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, context.Cause(ctx))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// calledSince checks that the runtime under test was called with the
// subcommand for the container whose ID is the call's last argument
// (or, id empty, whose bundle is under a folder named dir) since the
// call number since: proof that the clients ran it, not another runtime.
func calledSince(t *testing.T, e *Env, since int, sub, id, dir string) {
	t.Helper()
	calls := e.Calls()
	for _, c := range calls[min(since, len(calls)):] {
		f := strings.Fields(c)
		if !slices.Contains(f, sub) {
			continue
		}
		if id != "" && f[len(f)-1] == id || id == "" && strings.Contains(c, "/"+dir+"/") {
			return
		}
	}
	t.Errorf("the runtime under test had no %q call for %s%s; its calls since: %q", sub, id, dir, calls[min(since, len(calls)):])
}

// namespacesOf reads the namespaces of process pid, as readlink of
// /proc/PID/ns/* prints them, in the order of nsNames.
func namespacesOf(t *testing.T, pid int) []string {
	t.Helper()
	var ns []string
	for _, n := range nsNames {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, n))
		if err != nil {
			t.Fatal(err)
		}
		ns = append(ns, link)
	}
	return ns
}

// nsNames are the namespaces a container has of its own, as
// probeNamespaces lists them from inside.
var nsNames = []string{"pid", "uts", "ipc", "mnt", "net"}

// probeNamespaces prints /proc/1/comm, then the namespaces of the
// process running it, one a line.
var probeNamespaces = "cat /proc/1/comm; for n in " + strings.Join(nsNames, " ") + "; do readlink /proc/self/ns/$n; done"

// checkSameNamespaces checks what probeNamespaces printed, run in the
// container whose first process is pid and runs comm.
func checkSameNamespaces(t *testing.T, out string, pid int, comm string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1+len(nsNames) {
		t.Fatalf("probe printed %q", out)
	}
	if lines[0] != comm {
		t.Errorf("/proc/1/comm seen from the extra process: %q, want %q (the container's first process)", lines[0], comm)
	}
	host := namespacesOf(t, pid)
	for i, n := range nsNames {
		if lines[1+i] != host[i] {
			t.Errorf("%s namespace of the extra process %s, of the container's first process %s", n, lines[1+i], host[i])
		}
	}
	self := namespacesOf(t, os.Getpid())
	for i, n := range nsNames {
		if host[i] == self[i] {
			t.Errorf("the container shares the test's %s namespace %s", n, host[i])
		}
	}
}
