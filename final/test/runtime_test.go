//go:build vmtest

package test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// These tests drive skiff-runtime, skiff's OCI runtime, with runc's
// command line, as containerd's shim does, on a bundle of their own.

type ociRuntime struct {
	t    *testing.T
	root string // --root
	log  string // --log, JSON lines
}

func newOCIRuntime(t *testing.T) *ociRuntime {
	dir := t.TempDir()
	return &ociRuntime{t: t, root: filepath.Join(dir, "state"), log: filepath.Join(dir, "log.json")}
}

func (r *ociRuntime) run(args ...string) result {
	r.t.Helper()
	cmd := exec.Command("skiff-runtime", append([]string{"--root", r.root, "--log", r.log, "--log-format", "json"}, args...)...)
	// Files, not pipes: a container's init keeps the stdio create gives
	// it, and a pipe would not see EOF until the container ends.
	stdout, stderr := tempFile(r.t), tempFile(r.t)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		r.t.Fatalf("skiff-runtime %v: %v", args, err)
	}
	return result{readAll(stdout), readAll(stderr), cmd.ProcessState.ExitCode()}
}

func tempFile(t *testing.T) *os.File {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func readAll(f *os.File) string {
	data, _ := os.ReadFile(f.Name())
	return string(data)
}

func (r *ociRuntime) must(args ...string) string {
	r.t.Helper()
	res := r.run(args...)
	if res.status != 0 {
		r.t.Fatalf("skiff-runtime %s: status %d: %s", strings.Join(args, " "), res.status, res.stderr)
	}
	return res.stdout
}

func (r *ociRuntime) state(id string) specs.State {
	r.t.Helper()
	var s specs.State
	if err := json.Unmarshal([]byte(r.must("state", id)), &s); err != nil {
		r.t.Fatalf("state %s: %v", id, err)
	}
	return s
}

// bundle makes a bundle from the busybox rootfs and skiff-runtime's
// example spec, changed by edit.
func bundle(t *testing.T, edit func(s *specs.Spec)) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-a", os.Getenv("ROOTFS"), filepath.Join(dir, "rootfs")).CombinedOutput(); err != nil {
		t.Fatalf("cp rootfs: %v %s", err, out)
	}
	if out, err := exec.Command("skiff-runtime", "spec", "--bundle", dir).CombinedOutput(); err != nil {
		t.Fatalf("skiff-runtime spec: %v %s", err, out)
	}
	var s specs.Spec
	data, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	s.Process.Terminal = false
	s.Linux.CgroupsPath = "/skiff-runtime-test/" + filepath.Base(dir)
	edit(&s)
	data, _ = json.Marshal(&s)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Rmdir("/sys/fs/cgroup/skiff-runtime-test") })
	return dir
}

func cgroupFile(t *testing.T, cgroupsPath, controller, name string) string {
	t.Helper()
	dir := filepath.Join("/sys/fs/cgroup", cgroupsPath)
	if !isCgroup2() {
		dir = filepath.Join("/sys/fs/cgroup", controller, cgroupsPath)
	}
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return strings.TrimSpace(string(data))
}

func isCgroup2() bool {
	var fs unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &fs) == nil && fs.Type == unix.CGROUP2_SUPER_MAGIC
}

func waitStatus(t *testing.T, r *ociRuntime, id string, want specs.ContainerState) {
	t.Helper()
	for try := 0; try < 100; try++ {
		if r.state(id).Status == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("container %s is %s, want %s", id, r.state(id).Status, want)
}

// TestRuntimeLifecycle walks a container through the spec's life and
// asks the kernel at each step: namespaces, cgroup limits, the freezer.
func TestRuntimeLifecycle(t *testing.T) {
	r := newOCIRuntime(t)
	var cgroupsPath string
	dir := bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sleep", "100"}
		s.Hostname = "rt"
		limit, pids := int64(64<<20), int64(50)
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit}
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &pids}
		cgroupsPath = s.Linux.CgroupsPath
	})
	pidFile := filepath.Join(dir, "init.pid")
	r.must("create", "--bundle", dir, "--pid-file", pidFile, "c1")
	s := r.state("c1")
	data, _ := os.ReadFile(pidFile)
	if s.Status != specs.StateCreated || strconv.Itoa(s.Pid) != string(data) || s.Bundle != dir {
		t.Fatalf("after create: state %+v, pid file %q", s, data)
	}
	for _, ns := range []string{"uts", "pid", "mnt", "net", "ipc"} {
		host, _ := os.Readlink("/proc/self/ns/" + ns)
		ctr, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", s.Pid, ns))
		if host == ctr {
			t.Errorf("the container shares the host's %s namespace", ns)
		}
	}
	memFile, pidsFile := "memory.max", "pids.max"
	if !isCgroup2() {
		memFile = "memory.limit_in_bytes"
	}
	if got := cgroupFile(t, cgroupsPath, "memory", memFile); got != "67108864" {
		t.Errorf("%s = %s, want 67108864", memFile, got)
	}
	if got := cgroupFile(t, cgroupsPath, "pids", pidsFile); got != "50" {
		t.Errorf("pids.max = %s, want 50", got)
	}
	r.must("start", "c1")
	if s := r.state("c1"); s.Status != specs.StateRunning {
		t.Fatalf("after start: %s", s.Status)
	}
	if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", s.Pid)); string(cmdline) != "sleep\x00100\x00" {
		t.Errorf("PID %d runs %q, want sleep 100", s.Pid, cmdline)
	}
	if out := r.must("exec", "c1", "hostname"); out != "rt\n" {
		t.Errorf("exec hostname: %q, want rt", out)
	}
	process := filepath.Join(dir, "process.json")
	os.WriteFile(process, []byte(`{"args":["sh","-c","id -u; grep CapEff /proc/self/status"],"cwd":"/tmp","user":{"uid":1000,"gid":1000},"env":["PATH=/bin"]}`), 0o644)
	if out := r.must("exec", "--process", process, "c1"); !strings.HasPrefix(out, "1000\n") || !strings.Contains(out, "0000000000000000") {
		t.Errorf("exec --process as uid 1000: %q", out)
	}
	var pids []int
	if err := json.Unmarshal([]byte(r.must("ps", "--format", "json", "c1")), &pids); err != nil || len(pids) != 1 || pids[0] != s.Pid {
		t.Errorf("ps --format json: %v %v, want [%d]", pids, err, s.Pid)
	}
	r.must("pause", "c1")
	if st := r.state("c1").Status; st != "paused" {
		t.Errorf("after pause: %s", st)
	}
	freezer := map[bool][2]string{true: {"cgroup.events", "frozen 1"}, false: {"freezer.state", "FROZEN"}}[isCgroup2()]
	if got := cgroupFile(t, cgroupsPath, "freezer", freezer[0]); !strings.Contains(got, freezer[1]) {
		t.Errorf("paused, but %s says %q", freezer[0], got)
	}
	if res := r.run("delete", "c1"); res.status == 0 {
		t.Errorf("delete without --force removed a paused container")
	}
	r.must("resume", "c1")
	if st := r.state("c1").Status; st != specs.StateRunning {
		t.Errorf("after resume: %s", st)
	}
	r.must("kill", "c1", "KILL")
	waitStatus(t, r, "c1", specs.StateStopped)
	r.must("delete", "c1")
	if _, err := os.Stat(filepath.Join(r.root, "c1")); err == nil {
		t.Errorf("delete left the state folder")
	}
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", cgroupsPath)); err == nil && isCgroup2() {
		t.Errorf("delete left the cgroup %s", cgroupsPath)
	}
	if res := r.run("delete", "--force", "c1"); res.status != 0 {
		t.Errorf("delete --force of a deleted container: status %d, want 0", res.status)
	}
	if res := r.run("delete", "c1"); res.status == 0 {
		t.Errorf("delete of an unknown container: status 0")
	}
}

// TestRuntimeCreateFails: a command that does not exist fails create,
// with the reason in the JSON log that containerd shows, and nothing left.
func TestRuntimeCreateFails(t *testing.T) {
	r := newOCIRuntime(t)
	var cgroupsPath string
	dir := bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"no-such-command"}
		cgroupsPath = s.Linux.CgroupsPath
	})
	res := r.run("create", "--bundle", dir, "bad")
	if res.status == 0 {
		t.Fatal("create of a missing command succeeded")
	}
	log, _ := os.ReadFile(r.log)
	var line struct{ Level, Msg string }
	if err := json.Unmarshal([]byte(strings.TrimSpace(string(log))), &line); err != nil || line.Level != "error" || !strings.Contains(line.Msg, "no-such-command") {
		t.Errorf("log %q: want one JSON error line naming the command", log)
	}
	if _, err := os.Stat(filepath.Join(r.root, "bad")); err == nil {
		t.Errorf("a failed create left its state folder")
	}
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", cgroupsPath)); err == nil && isCgroup2() {
		t.Errorf("a failed create left its cgroup")
	}
}

// TestRuntimeConsoleAndHooks: with process.terminal the pty's master
// arrives on the console socket, and the hooks run with the state on
// their stdin: createRuntime while creating, poststop at delete.
func TestRuntimeConsoleAndHooks(t *testing.T) {
	r := newOCIRuntime(t)
	out := t.TempDir()
	hook := func(name string) specs.Hook {
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > " + filepath.Join(out, name)}}
	}
	dir := bundle(t, func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Process.Args = []string{"sh", "-c", "tty; sleep 100"}
		s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{hook("createRuntime")}, Poststop: []specs.Hook{hook("poststop")}}
	})
	socket := filepath.Join(out, "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	masters := make(chan *os.File, 1)
	go func() {
		conn, err := l.AcceptUnix()
		if err != nil {
			masters <- nil
			return
		}
		defer conn.Close()
		oob := make([]byte, unix.CmsgSpace(4))
		_, oobn, _, _, err := conn.ReadMsgUnix(make([]byte, 1), oob)
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			masters <- nil
			return
		}
		fds, _ := unix.ParseUnixRights(&msgs[0])
		masters <- os.NewFile(uintptr(fds[0]), "master")
	}()
	r.must("create", "--bundle", dir, "--console-socket", socket, "tty1")
	master := <-masters
	if master == nil {
		t.Fatal("no pty master on the console socket")
	}
	defer master.Close()
	var created specs.State
	data, _ := os.ReadFile(filepath.Join(out, "createRuntime"))
	if err := json.Unmarshal(data, &created); err != nil || created.Status != specs.StateCreating || created.ID != "tty1" || created.Pid == 0 {
		t.Errorf("createRuntime hook got %q", data)
	}
	r.must("start", "tty1")
	buf := make([]byte, 64)
	master.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _ := master.Read(buf)
	if !strings.Contains(string(buf[:n]), "/dev/pts/0") {
		t.Errorf("the container's terminal says %q, want /dev/pts/0", buf[:n])
	}
	r.must("delete", "--force", "tty1")
	var stopped specs.State
	data, _ = os.ReadFile(filepath.Join(out, "poststop"))
	if err := json.Unmarshal(data, &stopped); err != nil || stopped.Status != specs.StateStopped {
		t.Errorf("poststop hook got %q", data)
	}
}
