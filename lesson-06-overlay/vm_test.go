//go:build vmtest

// These tests run as root inside the lesson VM (make test boots it). They
// ask the kernel and the filesystem, not the lesson's own output.
package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const lesson = "lesson-06-overlay"

// newRootfs gives each test its own copy of the busybox rootfs with a marker
// file in it, and leaves a file that exists only on the host.
func newRootfs(t *testing.T) (rootfs, hostOnly string) {
	t.Helper()
	rootfs = filepath.Join(t.TempDir(), "rootfs")
	if out, err := exec.Command("cp", "-a", os.Getenv("ROOTFS"), rootfs).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v\n%s", err, out)
	}
	writeFile(t, filepath.Join(rootfs, "etc", "marker"), "inside the rootfs\n")
	hostOnly = filepath.Join(t.TempDir(), "host-only")
	writeFile(t, hostOnly, "on the host\n")
	return rootfs, hostOnly
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runLesson runs the lesson binary and returns stdout, stderr and the exit
// status.
func runLesson(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runAs(t, nil, args...)
}

func runAs(t *testing.T, cred *syscall.Credential, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(lesson, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%s %v: %v", lesson, args, err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// startLesson starts the lesson in the background and returns it with the
// host PID of the container's process, once that process runs comm.
func startLesson(t *testing.T, comm string, args ...string) (*exec.Cmd, int) {
	t.Helper()
	cmd := exec.Command(lesson, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, pid := range childrenOf(cmd.Process.Pid) {
			if c, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(c)) == comm {
				// Kill the container, not the runtime: the runtime cleans up
				// after its container, and a killed runtime cannot.
				t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL); cmd.Wait() })
				return cmd, pid
			}
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	t.Fatalf("no child of %s runs %s", lesson, comm)
	return nil, 0
}

// childrenOf lists the PIDs whose parent is ppid, from /proc/PID/stat.
func childrenOf(ppid int) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// The fields after the ")" that ends the command name: state, ppid, ...
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(ppid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func nsLink(t *testing.T, pid, ns string) string {
	t.Helper()
	link, err := os.Readlink(fmt.Sprintf("/proc/%s/ns/%s", pid, ns))
	if err != nil {
		t.Fatal(err)
	}
	return link
}

//check:reread What chroot(2) does
func TestRootIsTheRootfs(t *testing.T) {
	rootfs, hostOnly := newRootfs(t)
	out, errOut, status := runLesson(t, "run", rootfs, "cat", "/etc/marker")
	if status != 0 || out != "inside the rootfs\n" {
		t.Fatalf("cat /etc/marker inside: status %d, stdout %q, stderr %q", status, out, errOut)
	}
	_, _, status = runLesson(t, "run", rootfs, "test", "-e", hostOnly)
	if status == 0 {
		t.Fatalf("%s, a host-only file, is visible inside the chroot", hostOnly)
	}
}

//check:reread enterRoot: chroot(2), then chdir(2)
func TestWorkingDirectoryIsTheNewRoot(t *testing.T) {
	rootfs, _ := newRootfs(t)
	out, _, _ := runLesson(t, "run", rootfs, "pwd")
	if out != "/\n" {
		t.Fatalf("pwd inside = %q, want /", out)
	}
	// ".." at the new root must stay at the new root.
	out, _, _ = runLesson(t, "run", rootfs, "ls", "../../etc/marker")
	if out != "../../etc/marker\n" {
		t.Fatalf("ls ../../etc/marker = %q: .. climbed out of the new root", out)
	}
}

//check:reread execCommand: execve(2) with a clean environment
func TestHostEnvironmentDoesNotLeak(t *testing.T) {
	rootfs, _ := newRootfs(t)
	cmd := exec.Command(lesson, "run", rootfs, "env")
	cmd.Env = append(os.Environ(), "HOST_SECRET=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "HOST_SECRET") {
		t.Fatalf("the host environment leaked into the container:\n%s", out)
	}
}

// TestEscapeFails: after pivot_root the old root is detached, so the
// lesson 01 escape climbs to the container's own root and no further.
//
//check:reread Why the chroot escape fails now
func TestEscapeFails(t *testing.T) {
	rootfs, hostOnly := newRootfs(t)
	escape, err := exec.LookPath(lesson + "-escape")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", escape, filepath.Join(rootfs, "bin", "escape")).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	out, _, status := runLesson(t, "run", rootfs, "/bin/escape", "cat", hostOnly)
	if status == 0 || strings.Contains(out, "on the host") {
		t.Fatalf("escape reached the host's root: status %d, stdout %q", status, out)
	}
	out, _, _ = runLesson(t, "run", rootfs, "/bin/escape", "cat", "/etc/marker")
	if out != "inside the rootfs\n" {
		t.Fatalf("after the escape attempt, / is not the container's root: cat /etc/marker = %q", out)
	}
}

//check:reread exitStatus: Docker's 125, 126, 127
func TestExitStatusIsTheCommands(t *testing.T) {
	rootfs, _ := newRootfs(t)
	if _, _, status := runLesson(t, "run", rootfs, "sh", "-c", "exit 42"); status != 42 {
		t.Fatalf("exit status = %d, want 42", status)
	}
	runtime, pid := startLesson(t, "sleep", "run", rootfs, "sleep", "30")
	syscall.Kill(pid, syscall.SIGKILL)
	runtime.Wait()
	if status := runtime.ProcessState.ExitCode(); status != 128+9 {
		t.Fatalf("exit status after SIGKILL = %d, want 137", status)
	}
}

//check:reread The namespace flags
func TestHostname(t *testing.T) {
	rootfs, _ := newRootfs(t)
	before, _ := os.Hostname()
	out, errOut, status := runLesson(t, "run", "--hostname", "box1", rootfs, "hostname")
	if status != 0 || out != "box1\n" {
		t.Fatalf("hostname inside: status %d, stdout %q, stderr %q", status, out, errOut)
	}
	// Setting it from inside must not touch the host either.
	runLesson(t, "run", rootfs, "hostname", "changed-inside")
	if after, _ := os.Hostname(); after != before {
		t.Fatalf("host hostname changed from %q to %q", before, after)
	}
}

//check:reread The code
func TestDefaultHostnameIsRandom(t *testing.T) {
	rootfs, _ := newRootfs(t)
	a, _, _ := runLesson(t, "run", rootfs, "hostname")
	b, _, _ := runLesson(t, "run", rootfs, "hostname")
	if len(a) != 13 || a == b {
		t.Fatalf("default hostnames %q and %q: want two different 12-digit names", a, b)
	}
}

//check:reread /proc/PID/ns: seeing namespaces from outside
func TestNewUTSAndIPCNamespaces(t *testing.T) {
	rootfs, _ := newRootfs(t)
	_, pid := startLesson(t, "sleep", "run", rootfs, "sleep", "30")
	for _, ns := range []string{"uts", "ipc"} {
		inside, host := nsLink(t, strconv.Itoa(pid), ns), nsLink(t, "self", ns)
		if inside == host {
			t.Errorf("the container's %s namespace is the host's: %s", ns, host)
		}
	}
}

//check:reread Signal forwarding
func TestSignalsAreForwarded(t *testing.T) {
	rootfs, _ := newRootfs(t)
	runtime, _ := startLesson(t, "sh", "run", rootfs, "sh", "-c", `trap "exit 7" TERM; while true; do sleep 0.1; done`)
	time.Sleep(200 * time.Millisecond) // let sh install its trap
	runtime.Process.Signal(syscall.SIGTERM)
	runtime.Wait()
	if status := runtime.ProcessState.ExitCode(); status != 7 {
		t.Fatalf("exit status = %d, want 7 from the container's TERM trap", status)
	}
}

//check:reread What can go wrong
func TestBadInput(t *testing.T) {
	rootfs, _ := newRootfs(t)
	if err := os.Symlink("/etc", filepath.Join(rootfs, "etc-link")); err != nil {
		t.Fatal(err)
	}
	before := hostMounts(t)
	defer func() { assertMountsUnchanged(t, before) }()
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	tests := []struct {
		name   string
		cred   *syscall.Credential
		args   []string
		status int
		msg    string
	}{
		{"no arguments to run", nil, []string{"run"}, 125, "usage"},
		{"unknown flag", nil, []string{"run", "--bogus", rootfs, "sh"}, 125, "bogus"},
		{"missing rootfs", nil, []string{"run", "/does/not/exist", "sh"}, 125, "no such file or directory"},
		{"rootfs is a file", nil, []string{"run", rootfs + "/etc/passwd", "sh"}, 125, "not a directory"},
		{"command not found", nil, []string{"run", rootfs, "no-such-command"}, 127, "not found"},
		{"command not executable", nil, []string{"run", rootfs, "/etc/passwd"}, 126, "permission denied"},
		{"not root", nobody, []string{"run", rootfs, "sh"}, 125, "must run as root"},
		{"empty hostname", nil, []string{"run", "--hostname", "", rootfs, "true"}, 125, "hostname"},
		{"hostname too long", nil, []string{"run", "--hostname", strings.Repeat("a", 65), rootfs, "true"}, 125, "longer than 64"},
		{"hostname with a space", nil, []string{"run", "--hostname", "a b", rootfs, "true"}, 125, "hostname"},
		{"volume without a colon", nil, []string{"run", "-v", "/tmp", rootfs, "true"}, 125, "HOST:CTR"},
		{"volume with a bad mode", nil, []string{"run", "-v", "/tmp:/data:rx", rootfs, "true"}, 125, "neither ro nor rw"},
		{"volume with a relative path", nil, []string{"run", "-v", "tmp:/data", rootfs, "true"}, 125, "absolute"},
		{"volume over the root", nil, []string{"run", "-v", "/tmp:/", rootfs, "true"}, 125, "root"},
		{"volume source missing", nil, []string{"run", "-v", "/no/such/dir:/data", rootfs, "true"}, 125, "no such file"},
		{"volume target is a symlink", nil, []string{"run", "-v", "/tmp:/etc-link/x", rootfs, "true"}, 125, "symlink"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, status := runAs(t, tt.cred, tt.args...)
			if status != tt.status {
				t.Errorf("exit status = %d, want %d (stderr %q)", status, tt.status, errOut)
			}
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			if len(lines) != 1 || !strings.Contains(errOut, tt.msg) {
				t.Errorf("stderr = %q, want one line containing %q", errOut, tt.msg)
			}
		})
	}
}

//check:reread A PID namespace is a numbering
func TestCommandIsPID1(t *testing.T) {
	rootfs, _ := newRootfs(t)
	out, errOut, _ := runLesson(t, "run", rootfs, "sh", "-c", "echo $$")
	if out != "1\n" {
		t.Fatalf("PID inside = %q (stderr %q), want 1", out, errOut)
	}
}

// TestHostSeesTheContainersPID: outside, the container's PID 1 is an
// ordinary process with an ordinary PID; NSpid lists it in each namespace.
//
//check:reread A PID namespace is a numbering
func TestHostSeesTheContainersPID(t *testing.T) {
	rootfs, _ := newRootfs(t)
	_, pid := startLesson(t, "sleep", "run", rootfs, "sleep", "30")
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("NSpid:\t%d\t1\n", pid)
	if !strings.Contains(string(status), want) {
		t.Fatalf("/proc/%d/status has no %q:\n%s", pid, want, status)
	}
	if nsLink(t, strconv.Itoa(pid), "pid") == nsLink(t, "self", "pid") {
		t.Fatal("the container's PID namespace is the host's")
	}
}

// TestPID1IgnoresUnhandledSignals: the kernel drops signals that PID 1 has
// no handler for, even SIGKILL, when they come from inside its namespace.
//
//check:reread PID 1 is special
func TestPID1IgnoresUnhandledSignals(t *testing.T) {
	rootfs, _ := newRootfs(t)
	out, _, status := runLesson(t, "run", rootfs, "sh", "-c", "kill -TERM 1; kill -KILL 1; echo alive")
	if status != 0 || out != "alive\n" {
		t.Fatalf("PID 1 did not survive its own TERM and KILL: status %d, stdout %q", status, out)
	}
}

// hostMounts is the host's mount table: what a leak would change.
func hostMounts(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func assertMountsUnchanged(t *testing.T, before string) {
	t.Helper()
	if after := hostMounts(t); after != before {
		t.Fatalf("the host's mounts changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

//check:reread A /proc of its own, a small /dev, a read-only /sys
func TestPsShowsOnlyTheContainer(t *testing.T) {
	rootfs, _ := newRootfs(t)
	out, errOut, status := runLesson(t, "run", rootfs, "sh", "-c", "sleep 10 & sleep 0.2; ps -o pid,comm; kill $!")
	if status != 0 {
		t.Fatalf("ps inside: status %d, stderr %q", status, errOut)
	}
	var procs []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		fields := strings.Fields(line)
		procs = append(procs, fields[1])
		if fields[1] == "sh" && fields[0] != "1" {
			t.Errorf("sh is PID %s, want 1", fields[0])
		}
	}
	if strings.Join(procs, " ") != "sh sleep ps" {
		t.Fatalf("ps inside lists %v, want only sh, sleep and ps:\n%s", procs, out)
	}
}

// TestContainerMountTable asks the kernel what the container sees: its
// root is the rootfs, it has its own /proc, /dev, /dev/pts, /dev/shm and a
// read-only /sys, and none of the host's mounts, the old root included.
//
//check:reread pivot_root, not chroot
func TestContainerMountTable(t *testing.T) {
	rootfs, _ := newRootfs(t)
	out, errOut, status := runLesson(t, "run", rootfs, "cat", "/proc/self/mountinfo")
	if status != 0 {
		t.Fatalf("status %d: %s", status, errOut)
	}
	mounts := map[string]string{} // mount point -> fstype and options
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		fields := strings.Fields(line)
		sep := slicesIndex(fields, "-")
		mounts[fields[4]] = fields[sep+1] + " " + fields[5] + " " + fields[sep+3]
	}
	want := map[string]string{"/": "", "/proc": "proc", "/sys": "sysfs ro", "/dev": "tmpfs", "/dev/pts": "devpts", "/dev/shm": "tmpfs"}
	for point, prefix := range want {
		if !strings.HasPrefix(mounts[point], prefix) {
			t.Errorf("mount %s = %q, want %q...", point, mounts[point], prefix)
		}
	}
	if !strings.Contains(mounts["/dev/pts"], "ptmxmode=666") {
		t.Errorf("/dev/pts is not a new devpts instance: %q", mounts["/dev/pts"])
	}
	if len(mounts) != len(want) {
		t.Errorf("the container has %d mounts, want %d (no host mounts, no old root):\n%s", len(mounts), len(want), out)
	}
}

func slicesIndex(fields []string, s string) int {
	for i, f := range fields {
		if f == s {
			return i
		}
	}
	return -1
}

//check:reread A /proc of its own, a small /dev, a read-only /sys
func TestDevices(t *testing.T) {
	rootfs, _ := newRootfs(t)
	out, errOut, status := runLesson(t, "run", rootfs, "sh", "-c",
		"echo gone > /dev/null && head -c 4 /dev/zero | od -An -tx1 && ls /dev")
	if status != 0 {
		t.Fatalf("status %d: %s", status, errOut)
	}
	if !strings.Contains(out, "00 00 00 00") {
		t.Errorf("/dev/zero does not read zeros: %q", out)
	}
	names := strings.Fields(out[strings.Index(out, "\n")+1:])
	want := "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero"
	if strings.Join(names, " ") != want {
		t.Errorf("ls /dev = %v, want %s", names, want)
	}
	// The VM's own /dev has these; the container must not.
	for _, hostDev := range []string{"/dev/mem", "/dev/kmsg", "/dev/ttyS0"} {
		if _, err := os.Stat(hostDev); err != nil {
			t.Fatalf("the VM has no %s to compare with: %v", hostDev, err)
		}
		if _, _, status := runLesson(t, "run", rootfs, "test", "-e", hostDev); status == 0 {
			t.Errorf("%s, a host device, exists in the container", hostDev)
		}
	}
}

//check:reread A /proc of its own, a small /dev, a read-only /sys
func TestSysIsReadOnly(t *testing.T) {
	rootfs, _ := newRootfs(t)
	_, errOut, status := runLesson(t, "run", rootfs, "sh", "-c", "echo 1 > /sys/kernel/mm/ksm/run")
	if status == 0 || !strings.Contains(errOut, "Read-only file system") {
		t.Fatalf("writing to /sys: status %d, stderr %q", status, errOut)
	}
}

//check:reread Volumes are bind mounts
func TestVolumes(t *testing.T) {
	rootfs, _ := newRootfs(t)
	data := t.TempDir()
	writeFile(t, filepath.Join(data, "greeting"), "hello from the host\n")
	out, errOut, status := runLesson(t, "run", "-v", data+":/data", rootfs, "sh", "-c", "cat /data/greeting; echo written inside > /data/reply")
	if status != 0 || out != "hello from the host\n" {
		t.Fatalf("rw volume: status %d, stdout %q, stderr %q", status, out, errOut)
	}
	if reply, _ := os.ReadFile(filepath.Join(data, "reply")); string(reply) != "written inside\n" {
		t.Fatalf("the host sees %q, want what the container wrote", reply)
	}
	_, errOut, status = runLesson(t, "run", "-v", data+":/data:ro", rootfs, "sh", "-c", "echo again > /data/reply")
	if status == 0 || !strings.Contains(errOut, "Read-only file system") {
		t.Fatalf("ro volume was writable: status %d, stderr %q", status, errOut)
	}
	out, _, _ = runLesson(t, "run", "-v", data+":/data:ro", rootfs, "grep", " /data ", "/proc/self/mountinfo")
	if !strings.Contains(out, " ro") {
		t.Fatalf("the kernel does not list /data as read-only: %q", out)
	}
	// A single file works as a volume too.
	out, _, _ = runLesson(t, "run", "-v", filepath.Join(data, "greeting")+":/etc/greeting:ro", rootfs, "cat", "/etc/greeting")
	if out != "hello from the host\n" {
		t.Fatalf("file volume: %q", out)
	}
}

// TestNothingLeaks: the VM's root is shared, like on a systemd host. The
// host's mount table must be the same before and after containers ran,
// mounted things inside, and were killed.
//
//check:reread Propagation: how a careless namespace leaks
func TestNothingLeaks(t *testing.T) {
	if !strings.Contains(hostMounts(t), " / / rw") || !strings.Contains(hostMounts(t), "shared:") {
		t.Fatal("the VM's root is not a shared mount; this test would prove nothing")
	}
	rootfs, _ := newRootfs(t)
	before := hostMounts(t)
	runLesson(t, "run", "-v", t.TempDir()+":/data", rootfs, "sh", "-c", "mount -t tmpfs inside /mnt")
	runtime, pid := startLesson(t, "sleep", "run", "-v", t.TempDir()+":/data", rootfs, "sleep", "30")
	if mounts, _ := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid)); !strings.Contains(string(mounts), " /data ") {
		t.Fatalf("the running container has no /data volume:\n%s", mounts)
	}
	assertMountsUnchanged(t, before)
	syscall.Kill(pid, syscall.SIGKILL)
	runtime.Wait()
	assertMountsUnchanged(t, before)
	if _, err := os.Stat(filepath.Join(rootfs, ".oldroot")); err == nil {
		t.Error("the old root's mount point was left in the rootfs")
	}
}

// cgroupDirs are the container's cgroup folders, from /proc/PID/cgroup:
// the one v2 folder, or a v1 folder per controller ("memory", "cpu", ...).
func cgroupDirs(t *testing.T, pid int) map[string]string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	dirs := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if !strings.Contains(parts[2], "containers-from-scratch") {
			continue
		}
		if parts[1] == "" {
			dirs["v2"] = "/sys/fs/cgroup" + parts[2]
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c != "" {
				dirs[c] = "/sys/fs/cgroup/" + parts[1] + parts[2]
			}
		}
	}
	if len(dirs) == 0 {
		t.Fatalf("process %d is in no container cgroup:\n%s", pid, data)
	}
	return dirs
}

// cgroupFile reads a file of the container's cgroup: v2's if there is one,
// else the v1 controller's.
func cgroupFile(t *testing.T, dirs map[string]string, v2name, controller, v1name string) string {
	t.Helper()
	path := filepath.Join(dirs["v2"], v2name)
	if dirs["v2"] == "" {
		path = filepath.Join(dirs[controller], v1name)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// statField reads "key value" lines, as in memory.events and cpu.stat.
func statField(t *testing.T, text, key string) int64 {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, key+" "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	t.Fatalf("no %q in:\n%s", key, text)
	return 0
}

// assertNoCgroupsLeft: no container cgroup, not even the parent, remains.
func assertNoCgroupsLeft(t *testing.T) {
	t.Helper()
	left, _ := filepath.Glob("/sys/fs/cgroup/*containers-from-scratch*")
	more, _ := filepath.Glob("/sys/fs/cgroup/*/containers-from-scratch*")
	if left = append(left, more...); len(left) > 0 {
		t.Fatalf("cgroups left behind: %v", left)
	}
}

//check:reread Join before the command runs
func TestCgroupJoinedBeforeTheCommandRuns(t *testing.T) {
	rootfs, _ := newRootfs(t)
	out, errOut, status := runLesson(t, "run", "--memory", "64M", rootfs, "cat", "/proc/self/cgroup")
	if status != 0 || !strings.Contains(out, "/containers-from-scratch/") {
		t.Fatalf("the command's first look at /proc/self/cgroup: status %d, %q, stderr %q", status, out, errOut)
	}
	assertNoCgroupsLeft(t)
}

//check:reread v1 and v2
func TestCgroupLimitsAreWritten(t *testing.T) {
	rootfs, _ := newRootfs(t)
	_, pid := startLesson(t, "sleep", "run", "--memory", "64M", "--cpus", "0.5", "--pids", "20", rootfs, "sleep", "30")
	dirs := cgroupDirs(t, pid)
	checks := []struct{ v2, controller, v1, want string }{
		{"memory.max", "memory", "memory.limit_in_bytes", "67108864\n"},
		{"pids.max", "pids", "pids.max", "20\n"},
		{"cpu.max", "cpu", "cpu.cfs_quota_us", map[bool]string{true: "50000 100000\n", false: "50000\n"}[dirs["v2"] != ""]},
	}
	for _, c := range checks {
		if got := cgroupFile(t, dirs, c.v2, c.controller, c.v1); got != c.want {
			t.Errorf("%s = %q, want %q", c.v2, got, c.want)
		}
	}
}

// TestCgroupMemoryLimitOOMKills: tail /dev/zero keeps one endless "line" in
// memory. Past --memory the kernel kills it; the container's cgroup counts
// the kill, and the runtime says so.
//
//check:reread Memory: the limit, and the OOM kill
func TestCgroupMemoryLimitOOMKills(t *testing.T) {
	rootfs, _ := newRootfs(t)
	_, errOut, status := runLesson(t, "run", "--memory", "32M", rootfs, "tail", "/dev/zero")
	if status != 137 || !strings.Contains(errOut, "oom_kill 1") {
		t.Fatalf("memory hog: status %d (want 137), stderr %q", status, errOut)
	}
	runtime, pid := startLesson(t, "sleep", "run", "--memory", "32M", rootfs, "sh", "-c", "tail /dev/zero; sleep 30")
	dirs := cgroupDirs(t, pid)
	if dirs["v2"] != "" {
		if n := statField(t, cgroupFile(t, dirs, "memory.events", "", ""), "oom_kill"); n != 1 {
			t.Errorf("memory.events oom_kill = %d, want 1", n)
		}
	} else {
		if n := statField(t, cgroupFile(t, dirs, "", "memory", "memory.oom_control"), "oom_kill"); n != 1 {
			t.Errorf("memory.oom_control oom_kill = %d, want 1", n)
		}
		if n, _ := strconv.Atoi(strings.TrimSpace(cgroupFile(t, dirs, "", "memory", "memory.failcnt"))); n == 0 {
			t.Error("memory.failcnt = 0: the limit was never hit")
		}
	}
	runtime.Process.Signal(syscall.SIGTERM) // forwarded to sh, PID 1 without a handler: dropped
	syscall.Kill(pid, syscall.SIGKILL)
	runtime.Wait()
	assertNoCgroupsLeft(t)
}

// TestCgroupPidsLimitStopsAForkBomb: fifteen background sleeps, ten allowed.
//
//check:reread Processes: pids.max and fork bombs
func TestCgroupPidsLimitStopsAForkBomb(t *testing.T) {
	rootfs, _ := newRootfs(t)
	// A shell that cannot fork gives up, so the bomb runs in a subshell.
	runtime, pid := startLesson(t, "sleep", "run", "--pids", "10", rootfs, "sh", "-c",
		"(for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do sleep 30 & done) 2>/dev/null; exec sleep 30")
	dirs := cgroupDirs(t, pid)
	if n, _ := strconv.Atoi(strings.TrimSpace(cgroupFile(t, dirs, "pids.current", "pids", "pids.current"))); n < 9 || n > 10 {
		t.Errorf("pids.current = %d, want 9 or 10 (the limit, less the subshell that gave up)", n)
	}
	if n := statField(t, cgroupFile(t, dirs, "pids.events", "pids", "pids.events"), "max"); n == 0 {
		t.Error("pids.events max = 0: no fork was refused")
	}
	syscall.Kill(pid, syscall.SIGKILL)
	runtime.Wait()
	assertNoCgroupsLeft(t)
}

// TestCgroupCPULimitThrottles: a busy loop at --cpus 0.2 gets a fifth of
// each period; the kernel's own accounting (cpu.stat) says so.
//
//check:reread CPU: a quota per period
func TestCgroupCPULimitThrottles(t *testing.T) {
	rootfs, _ := newRootfs(t)
	runtime, pid := startLesson(t, "sh", "run", "--cpus", "0.2", rootfs, "sh", "-c", "while :; do :; done")
	time.Sleep(2 * time.Second)
	dirs := cgroupDirs(t, pid)
	stat := cgroupFile(t, dirs, "cpu.stat", "cpu", "cpu.stat")
	periods, throttled := statField(t, stat, "nr_periods"), statField(t, stat, "nr_throttled")
	// A busy host can starve the loop of a period now and then, so "most"
	// is half; the share below is what proves the cap.
	if periods < 10 || throttled < periods/2 {
		t.Errorf("cpu.stat: %d periods, %d throttled: want most periods throttled\n%s", periods, throttled, stat)
	}
	if dirs["v2"] != "" {
		share := float64(statField(t, stat, "usage_usec")) / float64(periods*100000)
		if share < 0.05 || share > 0.25 {
			t.Errorf("the loop used %.2f of a CPU per period, want about 0.2\n%s", share, stat)
		}
	}
	syscall.Kill(pid, syscall.SIGKILL)
	runtime.Wait()
	assertNoCgroupsLeft(t)
}

//check:reread What can go wrong
func TestCgroupBadLimits(t *testing.T) {
	rootfs, _ := newRootfs(t)
	for _, args := range [][]string{
		{"--memory", "lots"}, {"--memory", "0"}, {"--memory", "-5M"}, {"--memory", "12Q"},
		{"--cpus", "-1"}, {"--cpus", "999"}, {"--cpus", "0.001"}, {"--cpus", "half"},
		{"--pids", "-1"}, {"--pids", "many"}, {"--pids", "3"},
	} {
		_, errOut, status := runLesson(t, append(append([]string{"run"}, args...), rootfs, "true")...)
		if status != 125 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%v: status %d, stderr %q: want 125 and one line", args, status, errOut)
		}
	}
	assertNoCgroupsLeft(t)
}

// TestCgroupRemovedAfterFailures: a command that cannot start still
// leaves no cgroup.
//
//check:reread Removing the cgroup
func TestCgroupRemovedAfterFailures(t *testing.T) {
	rootfs, _ := newRootfs(t)
	if _, _, status := runLesson(t, "run", "--pids", "10", rootfs, "no-such-command"); status != 127 {
		t.Fatalf("status %d, want 127", status)
	}
	if err := os.Symlink("/etc", filepath.Join(rootfs, "etc-link")); err != nil {
		t.Fatal(err)
	}
	if _, _, status := runLesson(t, "run", "--pids", "10", "-v", "/tmp:/etc-link", rootfs, "true"); status != 125 {
		t.Fatalf("a volume onto a symlink: status %d, want 125", status)
	}
	assertNoCgroupsLeft(t)
}

//check:reread v1 and v2
func TestCgroupVersionIsShown(t *testing.T) {
	want := "cgroup v1"
	var fs syscall.Statfs_t
	if syscall.Statfs("/sys/fs/cgroup", &fs) == nil && fs.Type == 0x63677270 { // CGROUP2_SUPER_MAGIC
		want = "cgroup v2"
	}
	out, _, _ := runLesson(t, "run", "--help")
	if !strings.Contains(out, want) {
		t.Fatalf("run --help does not say %q:\n%s", want, out)
	}
	rootfs, _ := newRootfs(t)
	_, errOut, _ := runLesson(t, "run", "--verbose", "--pids", "12", rootfs, "true")
	if !strings.Contains(errOut, want+": echo 12 > ") {
		t.Fatalf("--verbose does not show the files written:\n%s", errOut)
	}
}

// runKeep runs a container with --keep and returns its kept upper layer.
func runKeep(t *testing.T, args ...string) string {
	t.Helper()
	_, errOut, status := runLesson(t, append([]string{"run", "--keep"}, args...)...)
	_, upper, found := strings.Cut(strings.TrimSpace(errOut), "kept the container's layer at ")
	if status != 0 || !found {
		t.Fatalf("run --keep: status %d, stderr %q", status, errOut)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(upper)); os.Remove(filepath.Dir(filepath.Dir(upper))) })
	return upper
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

//check:reread An image is a stack of layers
func TestOverlayIsTheContainersRoot(t *testing.T) {
	rootfs, _ := newRootfs(t)
	out, errOut, _ := runLesson(t, "run", rootfs, "cat", "/proc/self/mountinfo")
	root := strings.Split(out, "\n")[0]
	if !strings.Contains(root, " / / ") || !strings.Contains(root, " - overlay overlay ") || !strings.Contains(root, "lowerdir="+rootfs+",") {
		t.Fatalf("the container's root is not an overlay on %s: %q (stderr %q)", rootfs, root, errOut)
	}
}

//check:reread Writing: copy-up
func TestOverlayWritesLandInTheUpperLayer(t *testing.T) {
	rootfs, _ := newRootfs(t)
	upper := runKeep(t, rootfs, "sh", "-c", "echo new > /newfile")
	if got := readFile(t, filepath.Join(upper, "newfile")); got != "new\n" {
		t.Errorf("upper/newfile = %q", got)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "newfile")); err == nil {
		t.Error("the write reached the image's rootfs")
	}
}

//check:reread Writing: copy-up
func TestOverlayCopiesUpOnWrite(t *testing.T) {
	rootfs, _ := newRootfs(t)
	upper := runKeep(t, rootfs, "sh", "-c", "echo changed >> /etc/marker")
	if got := readFile(t, filepath.Join(upper, "etc", "marker")); got != "inside the rootfs\nchanged\n" {
		t.Errorf("upper/etc/marker = %q, want the copied-up file with the change", got)
	}
	if got := readFile(t, filepath.Join(rootfs, "etc", "marker")); got != "inside the rootfs\n" {
		t.Errorf("the image's etc/marker changed: %q", got)
	}
}

//check:reread Deleting: whiteouts and opaque directories
func TestOverlayDeleteLeavesAWhiteout(t *testing.T) {
	rootfs, _ := newRootfs(t)
	upper := runKeep(t, rootfs, "rm", "/etc/marker")
	var st syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(upper, "etc", "marker"), &st); err != nil {
		t.Fatalf("no whiteout in upper: %v", err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFCHR || st.Rdev != 0 {
		t.Errorf("upper/etc/marker: mode %o rdev %d, want a 0/0 character device", st.Mode, st.Rdev)
	}
	if got := readFile(t, filepath.Join(rootfs, "etc", "marker")); got != "inside the rootfs\n" {
		t.Errorf("the image lost its file: %q", got)
	}
}

// TestOverlayContainersDoNotShareWrites: two containers of one image, one
// writing while the other is running.
//
//check:reread Where the overlay is mounted, and by whom
func TestOverlayContainersDoNotShareWrites(t *testing.T) {
	rootfs, _ := newRootfs(t)
	_, pid := startLesson(t, "sleep", "run", rootfs, "sh", "-c", "echo mine > /etc/marker; exec sleep 30")
	if got := readFile(t, fmt.Sprintf("/proc/%d/root/etc/marker", pid)); got != "mine\n" {
		t.Fatalf("the first container's own write: %q", got)
	}
	out, _, _ := runLesson(t, "run", rootfs, "cat", "/etc/marker")
	if out != "inside the rootfs\n" {
		t.Fatalf("the second container sees %q, want the image's file", out)
	}
}

//check:reread An image is a stack of layers
func TestOverlayLayersStack(t *testing.T) {
	rootfs, _ := newRootfs(t)
	low, high := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(low, "etc"), 0o755)
	os.MkdirAll(filepath.Join(high, "etc"), 0o755)
	writeFile(t, filepath.Join(low, "etc", "marker"), "from the low layer\n")
	writeFile(t, filepath.Join(low, "etc", "low-only"), "low\n")
	writeFile(t, filepath.Join(high, "etc", "marker"), "from the high layer\n")
	out, errOut, _ := runLesson(t, "run", "--layer", low, "--layer", high, rootfs, "cat", "/etc/marker", "/etc/low-only", "/etc/passwd")
	if !strings.HasPrefix(out, "from the high layer\nlow\nroot:") {
		t.Fatalf("layers stacked wrong: %q (stderr %q)", out, errOut)
	}
}

//check:reread Where the overlay is mounted, and by whom
func TestOverlayNothingLeftWithoutKeep(t *testing.T) {
	rootfs, _ := newRootfs(t)
	before := hostMounts(t)
	runLesson(t, "run", rootfs, "sh", "-c", "echo x > /y")
	runtime, pid := startLesson(t, "sleep", "run", rootfs, "sleep", "30")
	syscall.Kill(pid, syscall.SIGKILL)
	runtime.Wait()
	runLesson(t, "run", "--layer", "/no/such/layer", rootfs, "true")
	assertMountsUnchanged(t, before)
	if _, err := os.Stat("/var/lib/containers-from-scratch"); err == nil {
		entries, _ := os.ReadDir("/var/lib/containers-from-scratch")
		t.Fatalf("container folders left behind: %v", entries)
	}
}

//check:reread What can go wrong
func TestOverlayBadLayers(t *testing.T) {
	rootfs, _ := newRootfs(t)
	odd := filepath.Join(t.TempDir(), "a:b")
	os.Mkdir(odd, 0o755)
	for _, layer := range []string{"/no/such/layer", rootfs + "/etc/passwd", odd} {
		_, errOut, status := runLesson(t, "run", "--layer", layer, rootfs, "true")
		if status != 125 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("--layer %s: status %d, stderr %q", layer, status, errOut)
		}
	}
}
