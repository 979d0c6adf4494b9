//go:build vmtest

package test

import (
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// lifeState is what the restart tests read of a container, through
// Docker's inspect fields.
type lifeState struct {
	id, status          string
	pid, restarts, code int
	monitor             int
}

func lifeOf(t *testing.T, name string) lifeState {
	t.Helper()
	f := strings.Fields(must(t, "inspect", "-f", "{{.ID}} {{.State.Status}} {{.State.Pid}} {{.RestartCount}} {{.State.ExitCode}}", name))
	if len(f) != 5 {
		t.Fatalf("inspect %s: %q", name, f)
	}
	var s lifeState
	s.id, s.status = f[0], f[1]
	s.pid, _ = strconv.Atoi(f[2])
	s.restarts, _ = strconv.Atoi(f[3])
	s.code, _ = strconv.Atoi(f[4])
	s.monitor = inspect(t, name).State.MonitorPid
	return s
}

// containerCgroups are the container's cgroup folders that exist, in any
// hierarchy.
func containerCgroups(id string) []string {
	v2, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", cgroupParent(), id))
	v1, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", cgroupParent(), id))
	return append(v2, v1...)
}

func processAlive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }

// pollFor polls cond for up to timeout.
func pollFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", timeout, what)
		}
	}
}

// TestCreateStartRestart: create makes a container that does not run
// (no process, no cgroup); start runs it under the same ID, restart runs
// a new process, and the file the first one wrote is still there: the
// writable layer is the same.
func TestCreateStartRestart(t *testing.T) {
	before := hostMounts(t)
	id := strings.TrimSpace(must(t, "create", "--name", "life", "busybox", "sh", "-c", "echo $$ >> /runs; exec sleep 100"))
	t.Cleanup(func() { skiff(t, "rm", "-f", "life") })
	s := lifeOf(t, "life")
	if s.id != id || s.status != "created" || s.pid != 0 || s.monitor != 0 || !strings.Contains(must(t, "ps", "-a"), "Created") {
		t.Fatalf("after create: %+v, want status created, no process, no monitor, ID %s", s, id)
	}
	if dirs := containerCgroups(id); len(dirs) > 0 {
		t.Errorf("a created container has a cgroup: %v", dirs)
	}
	if ps := must(t, "ps", "-a", "--filter", "name=life", "--format", "{{.Status}}"); !strings.Contains(ps, "Created") {
		t.Errorf("ps -a shows %q, want Created", ps)
	}
	if out := must(t, "start", "life"); strings.TrimSpace(out) != "life" {
		t.Errorf("start printed %q, want the name", out)
	}
	first := lifeOf(t, "life")
	if first.id != id || first.status != "running" || !processAlive(first.pid) || !processAlive(first.monitor) || len(containerCgroups(id)) == 0 {
		t.Fatalf("after start: %+v (cgroup %v), want the same ID running with a monitor and a cgroup", first, containerCgroups(id))
	}
	must(t, "restart", "-t", "1", "life")
	second := lifeOf(t, "life")
	if second.status != "running" || second.pid == first.pid || !processAlive(second.pid) || processAlive(first.pid) {
		t.Fatalf("after restart: %+v, first run %+v: want a new process, the old one gone", second, first)
	}
	runs := strings.Fields(must(t, "exec", "life", "cat", "/runs"))
	if len(runs) != 2 {
		t.Errorf("/runs holds %q: the second run does not see what the first wrote, want 2 lines", runs)
	}
	must(t, "stop", "-t", "1", "life")
	if s := lifeOf(t, "life"); s.status != "exited" || len(containerCgroups(id)) > 0 {
		t.Errorf("after stop: %+v, cgroup %v", s, containerCgroups(id))
	}
	must(t, "rm", "life")
	assertNothingLeft(t, before)
}

// TestStartAttach: start -a prints the output of this start, and
// returns the container's exit status.
func TestStartAttach(t *testing.T) {
	must(t, "create", "--name", "sa", "busybox", "sh", "-c", "echo out-$((6*7)); exit 7")
	t.Cleanup(func() { skiff(t, "rm", "-f", "sa") })
	for range 2 {
		r := skiff(t, "start", "-a", "sa")
		if r.status != 7 || strings.Count(r.stdout, "out-42") != 1 {
			t.Fatalf("start -a: status %d, stdout %q, want 7 and out-42 once", r.status, r.stdout)
		}
	}
}

// TestRunRestartForeground: run with a restart policy, without -d, hands
// the container to a monitor (it must outlive run) and follows it as
// start -a does: the output and status of the first run, as Docker's.
func TestRunRestartForeground(t *testing.T) {
	r := skiff(t, "run", "--name", "fgr", "--restart", "on-failure:1", "busybox", "sh", "-c", "echo fg-run; exit 2")
	t.Cleanup(func() { skiff(t, "rm", "-f", "fgr") })
	if r.status != 2 || strings.Count(r.stdout, "fg-run") != 1 {
		t.Errorf("run --restart: status %d, stdout %q, want 2 and fg-run once", r.status, r.stdout)
	}
	must(t, "wait", "fgr")
	if s := lifeOf(t, "fgr"); s.restarts != 1 || s.code != 2 {
		t.Errorf("after run --restart on-failure:1: %+v, want 1 restart, exit code 2", s)
	}
}

// TestRestartOnFailure: on-failure:2 starts a failing process again
// twice, then gives up with its exit status; wait returns then, not at
// the first exit.
func TestRestartOnFailure(t *testing.T) {
	must(t, "run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo try; exit 3")
	t.Cleanup(func() { skiff(t, "rm", "-f", "flaky") })
	if out := strings.TrimSpace(must(t, "wait", "flaky")); out != "3" {
		t.Errorf("wait printed %q, want 3", out)
	}
	s := lifeOf(t, "flaky")
	if s.status != "exited" || s.restarts != 2 || s.code != 3 || processAlive(s.monitor) {
		t.Errorf("after on-failure:2: %+v, want exited, 2 restarts, exit code 3, its monitor gone", s)
	}
	if tries := strings.Count(must(t, "logs", "flaky"), "try"); tries != 3 {
		t.Errorf("the process ran %d times, want 3", tries)
	}
	must(t, "run", "-d", "--name", "fine", "--restart", "on-failure", "busybox", "true")
	t.Cleanup(func() { skiff(t, "rm", "-f", "fine") })
	must(t, "wait", "fine")
	if s := lifeOf(t, "fine"); s.restarts != 0 {
		t.Errorf("on-failure restarted a process that exited 0: %+v", s)
	}
}

// TestRestartAlways: always starts a process that exits 0 again; stop
// stops it for good: no new process afterwards, its cgroup gone.
func TestRestartAlways(t *testing.T) {
	before := hostMounts(t)
	must(t, "run", "-d", "--name", "forever", "--restart", "always", "busybox", "sh", "-c", "sleep 0.3")
	t.Cleanup(func() { skiff(t, "rm", "-f", "forever") })
	id := lifeOf(t, "forever").id
	pollFor(t, "3 restarts", 60*time.Second, func() bool { return lifeOf(t, "forever").restarts >= 3 })
	// Between two runs, ps (without -a, as Docker's) shows it restarting.
	pollFor(t, "ps showing Restarting", 30*time.Second, func() bool {
		return strings.HasPrefix(must(t, "ps", "--filter", "name=forever", "--format", "{{.Status}}"), "Restarting (0) ")
	})
	must(t, "stop", "-t", "1", "forever")
	stopped := lifeOf(t, "forever")
	time.Sleep(2 * time.Second) // longer than the backoff so far
	later := lifeOf(t, "forever")
	if later.status != "exited" || later.restarts != stopped.restarts || processAlive(later.pid) || processAlive(stopped.monitor) {
		t.Errorf("after stop: %+v, then %+v: want it exited for good, no new start, its monitor gone", stopped, later)
	}
	if later.code != 0 && later.code != 137 {
		t.Errorf("after stop: exit code %d, want 0 (it ended by itself) or 137 (stop killed it)", later.code)
	}
	if dirs := containerCgroups(id); len(dirs) > 0 {
		t.Errorf("a stopped container keeps its cgroup: %v", dirs)
	}
	must(t, "rm", "forever")
	assertNothingLeft(t, before)
}

// TestRestartUnlessStopped: unless-stopped restarts until stopped, and
// remembers it; start starts it again, its restarts counted anew.
func TestRestartUnlessStopped(t *testing.T) {
	must(t, "run", "-d", "--name", "us", "--restart", "unless-stopped", "busybox", "sh", "-c", "sleep 0.3; exit 1")
	t.Cleanup(func() { skiff(t, "rm", "-f", "us") })
	pollFor(t, "a restart", 30*time.Second, func() bool { return lifeOf(t, "us").restarts >= 1 })
	must(t, "stop", "us")
	time.Sleep(time.Second)
	if s := lifeOf(t, "us"); s.status != "exited" || processAlive(s.monitor) {
		t.Fatalf("after stop: %+v, want exited, no monitor", s)
	}
	must(t, "start", "us")
	if s := lifeOf(t, "us"); s.restarts != 0 {
		t.Errorf("start kept the restart count: %+v", s)
	}
	pollFor(t, "a restart after start", 30*time.Second, func() bool { return lifeOf(t, "us").restarts >= 1 })
}

// TestRestartBadInput: bad policies are one-line errors, and nothing is
// created.
func TestRestartBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"run", "-d", "--restart", "sometimes", "busybox", "true"},
		{"run", "-d", "--restart", "on-failure:-1", "busybox", "true"},
		{"run", "-d", "--restart", "always:3", "busybox", "true"},
		{"create", "--restart", "always", "--rm", "busybox", "true"},
		{"start", "-a", "one", "two"},
		{"start", "no-such-container"},
		{"attach", "no-such-container"},
		{"attach", "one", "two"},
		{"restart", "-t", "-1", "x"},
	} {
		r := skiff(t, args...)
		if r.status != 125 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.HasPrefix(r.stderr, "skiff: ") {
			t.Errorf("skiff %v: status %d, stderr %q, want 125 and one line", args, r.status, r.stderr)
		}
	}
}

// TestStartAllRestartable: what a boot script does, as Docker's daemon
// does when it starts: the containers whose monitors and processes died
// (as in a reboot) start again if their policy is always, or
// unless-stopped and no user stopped them; the others stay down.
func TestStartAllRestartable(t *testing.T) {
	before := hostMounts(t)
	for name, policy := range map[string]string{"ra": "always", "ru": "unless-stopped", "rs": "unless-stopped", "rn": "no"} {
		must(t, "run", "-d", "--name", name, "--restart", policy, "busybox", "sleep", "100")
		t.Cleanup(func() { skiff(t, "rm", "-f", name) })
	}
	must(t, "stop", "-t", "0", "rs")
	for _, name := range []string{"ra", "ru", "rn"} {
		s := lifeOf(t, name)
		syscall.Kill(s.monitor, syscall.SIGKILL)
		pollFor(t, "the monitor of "+name+" gone", 10*time.Second, func() bool { return !processAlive(s.monitor) })
		syscall.Kill(s.pid, syscall.SIGKILL)
		pollFor(t, name+" dead", 10*time.Second, func() bool { return !processAlive(s.pid) })
	}
	out := strings.Fields(must(t, "start", "--all-restartable"))
	slices.Sort(out)
	if !slices.Equal(out, []string{"ra", "ru"}) {
		t.Errorf("start --all-restartable started %v, want ra and ru", out)
	}
	for name, want := range map[string]string{"ra": "running", "ru": "running", "rs": "exited", "rn": "dead"} {
		if s := lifeOf(t, name); s.status != want {
			t.Errorf("%s: %+v, want %s", name, s, want)
		}
	}
	for _, name := range []string{"ra", "ru", "rs", "rn"} {
		must(t, "rm", "-f", name)
	}
	assertNothingLeft(t, before)
}

// TestMonitorKilledWhileRestarting: a monitor killed while it waits to
// restart its container leaves it dead, with nothing running; start
// takes it up again, and rm -f leaves nothing behind.
func TestMonitorKilledWhileRestarting(t *testing.T) {
	before := hostMounts(t)
	must(t, "run", "-d", "--name", "orphaned", "--restart", "always", "busybox", "sh", "-c", "exit 1")
	t.Cleanup(func() { skiff(t, "rm", "-f", "orphaned") })
	var s lifeState
	pollFor(t, "restarting", 30*time.Second, func() bool { s = lifeOf(t, "orphaned"); return s.status == "restarting" && s.restarts >= 3 })
	syscall.Kill(s.monitor, syscall.SIGKILL)
	pollFor(t, "the monitor gone", 10*time.Second, func() bool { return !processAlive(s.monitor) })
	if now := lifeOf(t, "orphaned"); now.pid != 0 { // the kill came as it started the process again
		syscall.Kill(now.pid, syscall.SIGKILL)
		pollFor(t, "its process gone", 10*time.Second, func() bool { return !processAlive(now.pid) })
	}
	if now := lifeOf(t, "orphaned"); now.status != "dead" {
		t.Errorf("after its monitor was killed: %+v, want dead", now)
	}
	// What a monitor killed in the middle of a start leaves: the OCI
	// runtime's exec.fifo. start must not trip on it.
	syscall.Mkfifo(filepath.Join(containerDir(s.id), "exec.fifo"), 0o600)
	must(t, "start", "orphaned")
	pollFor(t, "restarts again", 30*time.Second, func() bool { return lifeOf(t, "orphaned").restarts >= 1 })
	must(t, "rm", "-f", "orphaned")
	assertNothingLeft(t, before)
}
