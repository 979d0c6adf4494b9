//go:build clienttest

package clients

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// dockerScenarios run containers with `docker run --runtime skiff`; each
// container's name is "docker-" and the scenario's name.
var dockerScenarios = []scenario{
	{"echo", dockerEcho},
	{"it", dockerIT},
	{"exec", dockerExec},
	{"top", dockerTop},
	{"pause-unpause", dockerPauseUnpause},
	{"stop", dockerStop},
	{"init", dockerInit},
	{"volume", dockerVolume},
	{"read-only", dockerReadOnly},
	{"cap-drop", dockerCapDrop},
	{"create-error", dockerCreateError},
}

func dockerEcho(t *testing.T, ctx context.Context, e *Env) {
	since := len(e.Calls())
	out := output(t, e.DockerRun(ctx, "--rm", Image, "echo", "hello from", "docker"))
	if out != "hello from docker\n" {
		t.Errorf("stdout %q, want %q", out, "hello from docker\n")
	}
	// dockerd's containers are in containerd's namespace "moby".
	for _, sub := range []string{"create", "start", "delete"} {
		calledSince(t, e, since, sub, "", "moby")
	}
}

// dockerIT types into a shell run with docker run -it.
func dockerIT(t *testing.T, ctx context.Context, e *Env) {
	out, code := underPTY(t, e.DockerRun(ctx, "--rm", "-it", "--name", "docker-it", Image, "sh"),
		"busybox tty\rtest -t 0 && echo stdin is a terminal\recho answer-$((6*7))\rexit 3\r")
	if code != 3 {
		t.Errorf("exit code %d, want 3; terminal showed %q", code, out)
	}
	for _, want := range []string{`(?m)^/dev/pts/[0-9]+$`, `(?m)^stdin is a terminal$`, `(?m)^answer-42$`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("terminal showed %q, without a line %s", out, want)
		}
	}
}

// dockerExec runs extra processes in a running container: they must be
// in its namespaces, and their exit code must come back.
func dockerExec(t *testing.T, ctx context.Context, e *Env) {
	name := "docker-exec"
	pid := startDockerDetached(t, ctx, e, name, "sleep", "1000")
	since := len(e.Calls())
	checkSameNamespaces(t, output(t, e.Docker(ctx, "exec", name, "sh", "-c", probeNamespaces)), pid, "sleep")
	calledSince(t, e, since, "exec", "", "moby")
	if r := runCmd(t, e.Docker(ctx, "exec", name, "sh", "-c", "exit 6")); r.code != 6 {
		t.Errorf("exit code of docker exec %d, want 6", r.code)
	}
	out, code := underPTY(t, e.Docker(ctx, "exec", "-it", name, "busybox", "tty"), "")
	if code != 0 || !regexp.MustCompile(`(?m)^/dev/pts/[0-9]+$`).MatchString(out) {
		t.Errorf("docker exec -it tty: exit code %d, terminal showed %q", code, out)
	}
}

// dockerTop lists a container's processes (the runtime's ps).
func dockerTop(t *testing.T, ctx context.Context, e *Env) {
	name := "docker-top"
	pid := startDockerDetached(t, ctx, e, name, "sh", "-c", "sleep 1001 & exec sleep 1000")
	var out string
	waitFor(ctx, t, 10*time.Second, "both sleeps in docker top", func() bool {
		out = output(t, e.Docker(ctx, "top", name))
		return strings.Contains(out, "sleep 1000") && strings.Contains(out, "sleep 1001")
	})
	found := false
	for _, line := range strings.Split(out, "\n")[1:] {
		if f := strings.Fields(line); len(f) > 1 && f[1] == strconv.Itoa(pid) {
			found = strings.HasSuffix(line, "sleep 1000")
		}
	}
	if !found || len(strings.Split(strings.TrimSpace(out), "\n")) != 3 {
		t.Errorf("docker top: %q; want two processes, %d being sleep 1000", out, pid)
	}
}

// dockerPauseUnpause pauses a container that prints a line every 50 ms:
// nothing must come while it is paused.
func dockerPauseUnpause(t *testing.T, ctx context.Context, e *Env) {
	name := "docker-pause-unpause"
	startDockerDetached(t, ctx, e, name, "sh", "-c", "while :; do echo tick; sleep 0.05; done")
	lines := func() int { return strings.Count(output(t, e.Docker(ctx, "logs", name)), "tick\n") }
	waitFor(ctx, t, 10*time.Second, "ticks", func() bool { return lines() >= 3 })
	output(t, e.Docker(ctx, "pause", name))
	if s := dockerState(t, ctx, e, name, "{{.State.Status}}"); s != "paused" {
		t.Errorf("status after docker pause: %s", s)
	}
	time.Sleep(200 * time.Millisecond) // lines on their way
	before := lines()
	time.Sleep(500 * time.Millisecond)
	if n := lines() - before; n != 0 {
		t.Errorf("%d lines printed in 0.5s while paused", n)
	}
	output(t, e.Docker(ctx, "unpause", name))
	if s := dockerState(t, ctx, e, name, "{{.State.Status}}"); s != "running" {
		t.Errorf("status after docker unpause: %s", s)
	}
	after := lines()
	waitFor(ctx, t, 5*time.Second, "ticks after unpause", func() bool { return lines() >= after+3 })
}

// dockerStop stops a first process that ignores SIGTERM (a sleep: PID 1
// has no default action), which docker kills after --time, and one that
// exits on SIGTERM, at once.
func dockerStop(t *testing.T, ctx context.Context, e *Env) {
	for _, tc := range []struct {
		name     string
		cmd      []string
		ready    bool // it prints "ready" once its trap is set
		time     string
		code     string
		min, max time.Duration
	}{
		{"docker-stop-ignores", []string{"sleep", "1000"}, false, "1", "137", time.Second, 5 * time.Second},
		{"docker-stop-traps", []string{"sh", "-c", `trap "exit 5" TERM; echo ready; while :; do sleep 0.1; done`}, true, "10", "5", 0, 3 * time.Second},
	} {
		startDockerDetached(t, ctx, e, tc.name, tc.cmd...)
		if tc.ready {
			waitFor(ctx, t, 10*time.Second, "ready in docker logs", func() bool {
				return output(t, e.Docker(ctx, "logs", tc.name)) == "ready\n"
			})
		}
		took := timeStop(t, ctx, e, tc.name, tc.time)
		if took < tc.min || took > tc.max {
			t.Errorf("%s: docker stop took %v, want %v to %v", tc.name, took, tc.min, tc.max)
		}
		if code := dockerState(t, ctx, e, tc.name, "{{.State.ExitCode}}"); code != tc.code {
			t.Errorf("%s: exit code %s, want %s", tc.name, code, tc.code)
		}
	}
}

// dockerInit runs with --init: docker-init is PID 1, and passes SIGTERM
// on to a sleep, which then stops at once.
func dockerInit(t *testing.T, ctx context.Context, e *Env) {
	out := output(t, e.DockerRun(ctx, "--rm", "--init", Image, "sh", "-c", "cat /proc/1/comm; echo $$"))
	if lines := strings.Fields(out); len(lines) != 2 || lines[0] != "docker-init" || lines[1] == "1" {
		t.Errorf("with --init: %q; want docker-init as PID 1 and sh not", out)
	}
	name := "docker-init-stop"
	startDockerDetached(t, ctx, e, name, "--init", "sleep", "1000")
	if took := timeStop(t, ctx, e, name, "10"); took > 3*time.Second {
		t.Errorf("docker stop of sleep under docker-init took %v", took)
	}
	if code := dockerState(t, ctx, e, name, "{{.State.ExitCode}}"); code != "143" {
		t.Errorf("exit code %s, want 143 (SIGTERM)", code)
	}
}

// dockerVolume bind-mounts a host folder: files go both ways.
func dockerVolume(t *testing.T, ctx context.Context, e *Env) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "in"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := output(t, e.DockerRun(ctx, "--rm", "-v", dir+":/data", Image, "sh", "-c", "cat /data/in; echo from the container > /data/out"))
	if out != "from the host\n" {
		t.Errorf("the container read %q from the volume", out)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "out")); err != nil || string(data) != "from the container\n" {
		t.Errorf("the host read %q from the volume: %v", data, err)
	}
}

// dockerReadOnly checks that --read-only makes / read-only, and only then.
func dockerReadOnly(t *testing.T, ctx context.Context, e *Env) {
	r := runCmd(t, e.DockerRun(ctx, "--rm", "--read-only", Image, "sh", "-c", "touch /probe"))
	if r.code == 0 || !strings.Contains(r.stderr, "Read-only file system") {
		t.Errorf("touch /probe with --read-only: exit code %d, stderr %q", r.code, r.stderr)
	}
	opts := output(t, e.DockerRun(ctx, "--rm", "--read-only", Image, "busybox", "awk", `$2 == "/" { print $4 }`, "/proc/self/mounts"))
	if !strings.HasPrefix(opts, "ro") {
		t.Errorf("options of / with --read-only: %q", opts)
	}
	output(t, e.DockerRun(ctx, "--rm", Image, "touch", "/probe")) // writable without it
}

// dockerCapDrop checks that --cap-drop NET_RAW removes that capability,
// and only that one, from the effective set.
func dockerCapDrop(t *testing.T, ctx context.Context, e *Env) {
	const netRaw = 13 // CAP_NET_RAW
	capEff := func(args ...string) uint64 {
		args = append(append([]string{"--rm"}, args...), Image, "grep", "CapEff", "/proc/self/status")
		f := strings.Fields(output(t, e.DockerRun(ctx, args...)))
		if len(f) != 2 {
			t.Fatalf("CapEff line: %q", f)
		}
		v, err := strconv.ParseUint(f[1], 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	all, dropped := capEff(), capEff("--cap-drop", "NET_RAW")
	if all&(1<<netRaw) == 0 || dropped != all&^(1<<netRaw) {
		t.Errorf("CapEff %016x by default, %016x with --cap-drop NET_RAW: want only bit %d cleared", all, dropped, netRaw)
	}
	if r := runCmd(t, e.DockerRun(ctx, "--rm", "--cap-drop", "NET_RAW", Image, "ping", "-c", "1", "127.0.0.1")); r.code == 0 {
		t.Errorf("ping without CAP_NET_RAW worked: %s", r.stdout)
	}
}

// dockerCreateError runs a command that does not exist: docker run exits
// 127 and shows the runtime's error, which names it. The docker client
// gives 127 only when the error has "no such file or directory" or
// "executable file not found" in it, in lower case, as runc's has (crun
// 1.8's "No such file or directory" gives 125).
func dockerCreateError(t *testing.T, ctx context.Context, e *Env) {
	r := runCmd(t, e.DockerRun(ctx, "--rm", "--name", "docker-create-error", Image, "/no/such/program"))
	if r.code != 127 || !strings.Contains(r.stderr, "/no/such/program") {
		t.Errorf("exit code %d, stderr %q: want 127 and an error that names /no/such/program and says %q", r.code, r.stderr, "no such file or directory")
	}
	if out := output(t, e.Docker(ctx, "ps", "--all", "--quiet", "--filter", "name=docker-create-error")); out != "" {
		t.Errorf("the container is still there: %s", out)
	}
}

// startDockerDetached starts a container with docker run -d, removed at
// the end of the test, and returns the host PID of its first process.
// Options may come before the command.
func startDockerDetached(t *testing.T, ctx context.Context, e *Env, name string, args ...string) int {
	t.Helper()
	var opts []string
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		opts, args = append(opts, args[0]), args[1:]
	}
	run := append(append([]string{"-d", "--name", name}, opts...), Image)
	output(t, e.DockerRun(ctx, append(run, args...)...))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if r := runCmd(t, e.Docker(ctx, "rm", "--force", name)); r.code != 0 {
			t.Errorf("docker rm --force %s: %s", name, r.stderr)
		}
	})
	pid, err := strconv.Atoi(dockerState(t, ctx, e, name, "{{.State.Pid}}"))
	if err != nil || pid <= 0 {
		t.Fatalf("%s: no PID: %v", name, err)
	}
	return pid
}

// dockerState is a field of docker inspect's, by its template.
func dockerState(t *testing.T, ctx context.Context, e *Env, name, format string) string {
	t.Helper()
	return strings.TrimSpace(output(t, e.Docker(ctx, "inspect", "--format", format, name)))
}

// timeStop runs docker stop --time SECONDS and returns how long it took.
func timeStop(t *testing.T, ctx context.Context, e *Env, name, seconds string) time.Duration {
	t.Helper()
	start := time.Now()
	output(t, e.Docker(ctx, "stop", "--time", seconds, name))
	took := time.Since(start)
	t.Logf("docker stop --time %s %s: %v", seconds, name, took.Round(time.Millisecond))
	return took
}
