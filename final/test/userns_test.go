//go:build vmtest

package test

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// These tests give containers a user namespace and ask the host what
// root in the container is there: UID 100000, nobody in particular.

// mappedRoot is the host's UID and GID of root in the tests' user
// namespaces, which map the container's IDs 0-65535.
const mappedRoot = 100000

var idMap = []specs.LinuxIDMapping{{ContainerID: 0, HostID: mappedRoot, Size: 65536}}

// usernsBundle is a bundle with a writable root whose command is sh -c
// script, in a user namespace of its own; its rootfs belongs to the
// mapped IDs, as one prepares a bundle for runc.
func usernsBundle(t *testing.T, script string, edit func(s *specs.Spec)) string {
	t.Helper()
	dir := bundle(t, func(s *specs.Spec) {
		s.Root.Readonly = false
		s.Process.Args = []string{"sh", "-c", script}
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings, s.Linux.GIDMappings = idMap, idMap
		if edit != nil {
			edit(s)
		}
	})
	shiftOwners(t, filepath.Join(dir, "rootfs"), mappedRoot)
	return dir
}

// shiftOwners adds base to the owner and group of every file under dir.
func shiftOwners(t *testing.T, dir string, base int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		return os.Lchown(path, base+int(st.Uid), base+int(st.Gid))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// hostSecret is a file only the host's root may read, in a folder only
// it may walk.
func hostSecret(t *testing.T) string {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	if err := os.WriteFile(path, []byte("host secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// statusIDs reads the Uid or Gid line of /proc/PID/status: real,
// effective, saved, filesystem.
func statusIDs(t *testing.T, pid int, field string) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}

func wantMapped(t *testing.T, what string, pid int) {
	t.Helper()
	want := strings.Repeat(strconv.Itoa(mappedRoot)+" ", 4)
	for _, field := range []string{"Uid", "Gid"} {
		if got := statusIDs(t, pid, field); got+" " != want {
			t.Errorf("%s (PID %d): %s %s on the host, want %s", what, pid, field, got, want)
		}
	}
	if got := statusIDs(t, pid, "Groups"); got != "" {
		t.Errorf("%s (PID %d): supplementary groups %q on the host, want none", what, pid, got)
	}
}

// command is skiff-runtime with r's flags, for a caller that wires its
// output: create leaves the container's stdio where its own is.
func (r *ociRuntime) command(args ...string) *exec.Cmd {
	return exec.Command("skiff-runtime", append([]string{"--root", r.root, "--log", r.log, "--log-format", "json"}, args...)...)
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestUsernsRuntime: skiff-runtime creates a container in a user
// namespace from a spec with uidMappings and a seccomp profile. Inside,
// the command is root with the spec's map; the host sees UID 100000, and
// that user cannot read a host file of root's bound in, nor leave files
// of root's in the rootfs. exec joins the same user namespace.
func TestUsernsRuntime(t *testing.T) {
	r := newOCIRuntime(t)
	secret := hostSecret(t)
	dir := usernsBundle(t, `cat /proc/self/uid_map /proc/self/gid_map; id
cat /secret/key || echo secret=denied; touch /made; mkdir /tmp/d; echo mkdir=$?; exec sleep 100`, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/secret", Type: "bind", Source: filepath.Dir(secret), Options: []string{"rbind", "ro"}})
		s.Linux.Seccomp = denyMkdirChmod()
	})
	out := tempFile(t)
	create := r.command("create", "--bundle", dir, "u1")
	create.Stdout, create.Stderr = out, out
	if err := create.Run(); err != nil {
		log, _ := os.ReadFile(r.log)
		t.Fatalf("create: %v: %s %s", err, readAll(out), log)
	}
	t.Cleanup(func() { r.run("delete", "--force", "u1") })
	r.must("start", "u1")
	pid := r.state("u1").Pid
	waitFor(t, "the command to reach sleep", func() bool {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		return strings.HasPrefix(string(cmdline), "sleep")
	})
	text := readAll(out)
	t.Logf("output:\n%s", text)
	if fields := strings.Fields(text); len(fields) < 6 || strings.Join(fields[:6], " ") != "0 100000 65536 0 100000 65536" {
		t.Errorf("uid_map and gid_map inside: %q, want 0 100000 65536 for both", text)
	}
	wantLines(t, text, "uid=0(root) gid=0(root)", "secret=denied", "Operation not permitted", "mkdir=1")
	if strings.Contains(text, "host secret") {
		t.Errorf("root in the container read the host's secret")
	}
	wantMapped(t, "the container's command", pid)
	if info, err := os.Stat(filepath.Join(dir, "rootfs", "made")); err != nil || info.Sys().(*syscall.Stat_t).Uid != mappedRoot {
		t.Errorf("a file made by root inside: %v, want it owned by %d on the host", err, mappedRoot)
	}

	hostView, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", pid))
	mine, _ := os.Readlink("/proc/self/ns/user")
	if hostView == mine {
		t.Fatalf("the container shares the host's user namespace")
	}
	got := r.must("exec", "u1", "sh", "-c", "readlink /proc/self/ns/user; id -u; mkdir /tmp/e; grep ^Seccomp: /proc/self/status")
	wantLines(t, got, hostView+"\n0\n", "Seccomp:\t2")
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	r.must("exec", "--detach", "--pid-file", pidFile, "u1", "sleep", "50")
	data, _ := os.ReadFile(pidFile)
	execPid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	wantMapped(t, "an exec'd process", execPid)
}

// TestUsernsRuntimeJoin: a container that joins another's user and
// network namespaces, as a pod's do, with namespaces of its own for the
// rest: they belong to the joined user namespace, so its root may set
// its hostname and be PID 1 there.
func TestUsernsRuntimeJoin(t *testing.T) {
	r := newOCIRuntime(t)
	first := usernsBundle(t, "exec sleep 100", nil)
	r.must("create", "--bundle", first, "pod")
	t.Cleanup(func() { r.run("delete", "--force", "pod") })
	r.must("start", "pod")
	podPid := r.state("pod").Pid
	dir := usernsBundle(t, "echo pid=$$; hostname; exec sleep 100", func(s *specs.Spec) {
		s.Hostname = "member"
		s.Linux.UIDMappings, s.Linux.GIDMappings = nil, nil
		for i, ns := range s.Linux.Namespaces {
			if ns.Type == specs.UserNamespace || ns.Type == specs.NetworkNamespace {
				s.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/%s", podPid, map[specs.LinuxNamespaceType]string{
					specs.UserNamespace: "user", specs.NetworkNamespace: "net"}[ns.Type])
			}
		}
	})
	out := tempFile(t)
	create := r.command("create", "--bundle", dir, "member")
	create.Stdout, create.Stderr = out, out
	if err := create.Run(); err != nil {
		log, _ := os.ReadFile(r.log)
		t.Fatalf("create: %v: %s %s", err, readAll(out), log)
	}
	t.Cleanup(func() { r.run("delete", "--force", "member") })
	r.must("start", "member")
	pid := r.state("member").Pid
	waitFor(t, "the member's command to reach sleep", func() bool {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		return strings.HasPrefix(string(cmdline), "sleep")
	})
	wantLines(t, readAll(out), "pid=1\n", "member\n")
	for ns, same := range map[string]bool{"user": true, "net": true, "pid": false, "uts": false, "mnt": false} {
		a, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", podPid, ns))
		b, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
		if (a == b) != same {
			t.Errorf("%s namespace: pod %s, member %s: shared %v, want %v", ns, a, b, a == b, same)
		}
	}
	wantMapped(t, "the member's command", pid)
}

// skiffRange is the first ID of skiff's range in the VM's /etc/subuid
// and /etc/subgid, which --userns private adds when missing.
func skiffRange(t *testing.T, file string) int {
	t.Helper()
	data, _ := os.ReadFile(file)
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Split(line, ":"); len(f) == 3 && f[0] == "skiff" && f[2] == "65536" {
			start, _ := strconv.Atoi(f[1])
			return start
		}
	}
	t.Fatalf("%s has no range of 65536 IDs for skiff:\n%s", file, data)
	return 0
}

// psShows tells whether ps -o user,pid,args shows PID pid as user uid.
func psShows(ps string, uid, pid int) bool {
	for _, line := range strings.Split(ps, "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[0] == strconv.Itoa(uid) && f[1] == strconv.Itoa(pid) {
			return true
		}
	}
	return false
}

// hostOwner is the owner and group of a host file.
func hostOwner(t *testing.T, path string) (int, int) {
	t.Helper()
	info, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := info.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}

// showIDsAndWait makes this test binary, run as SKIFF_TEST_WAIT_IDS=1,
// print its user IDs and sleep: a static program the tests can make
// setuid, and whose IDs the host can read while it runs.
func init() {
	if os.Getenv("SKIFF_TEST_WAIT_IDS") != "1" {
		return
	}
	data, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "Uid:") {
			fmt.Println(strings.Join(strings.Fields(line), " "))
		}
	}
	time.Sleep(time.Minute)
	os.Exit(0)
}

// TestUsernsRun: skiff run --userns private. skiff's range is added to
// /etc/subuid and /etc/subgid; inside, uid_map maps 0 to its start, and
// the host sees the container's processes, exec'd ones too, as that
// user (ps -o user). A file made inside is in the upper folder, owned by
// it; the image's layer does not change; commit maps the owners back.
func TestUsernsRun(t *testing.T) {
	uid := func() int { return skiffRange(t, "/etc/subuid") }
	secret := hostSecret(t)
	detached(t, "un", "--userns", "private", "-v", filepath.Dir(secret)+":/secret", "busybox", "sleep", "300")
	start, gstart := uid(), skiffRange(t, "/etc/subgid")
	t.Logf("skiff's ranges: UIDs from %d, GIDs from %d", start, gstart)
	pid := pidOf(t, "un")
	wantLines(t, must(t, "exec", "un", "cat", "/proc/self/uid_map"), fmt.Sprintf("0     %6d      65536", start))
	if got := statusIDs(t, pid, "Uid"); got != strings.TrimSpace(strings.Repeat(strconv.Itoa(start)+" ", 4)) {
		t.Errorf("the container's command: Uid %s on the host, want %d", got, start)
	}
	ps, err := exec.Command("ps", "-o", "user,pid,args").CombinedOutput()
	if err != nil {
		t.Fatalf("ps: %v %s", err, ps)
	}
	t.Logf("ps -o user,pid,args:\n%s", ps)
	if !psShows(string(ps), start, pid) {
		t.Errorf("ps -o user does not show the container's command, PID %d, as user %d", pid, start)
	}

	// exec, and what the host sees of an exec'd process.
	if got := must(t, "exec", "un", "sh", "-c", "id; cat /secret/key || echo denied"); !strings.Contains(got, "uid=0(root)") || !strings.Contains(got, "denied") {
		t.Errorf("exec as root in the container: %q, want uid 0 and the host's secret denied", got)
	}
	sleeper := exec.Command("skiff", append(append([]string{}, roots...), "exec", "un", "sleep", "200")...)
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })
	execPid := 0
	waitFor(t, "the exec'd sleep", func() bool {
		for _, p := range strings.Fields(readFile(t, filepath.Join(inspect(t, "un").Cgroup[0], "cgroup.procs"))) {
			if cmdline, _ := os.ReadFile("/proc/" + p + "/cmdline"); string(cmdline) == "sleep\x00200\x00" {
				execPid, _ = strconv.Atoi(p)
			}
		}
		return execPid != 0
	})
	if got := statusIDs(t, execPid, "Uid"); !strings.HasPrefix(got, strconv.Itoa(start)+" ") {
		t.Errorf("an exec'd process: Uid %s on the host, want %d", got, start)
	}

	// The upper folder, the image's layer, and commit.
	must(t, "exec", "un", "sh", "-c", "echo made > /made && mkdir -p /var/new && chown 42:43 /var/new")
	dir := filepath.Join(roots[1], "containers", inspect(t, "un").ID)
	if _, err := os.Stat(filepath.Join(dir, "layers")); err == nil {
		t.Log("the image's layers were copied for the container: their filesystem takes no idmapped mounts")
	} else {
		t.Log("the image's layers are idmapped")
	}
	if u, g := hostOwner(t, filepath.Join(dir, "upper", "made")); u != start || g != gstart {
		t.Errorf("/made in the upper folder: owned by %d:%d, want %d:%d", u, g, start, gstart)
	}
	if u, _ := hostOwner(t, filepath.Join(dir, "upper", "var", "new")); u != start+42 {
		t.Errorf("/var/new, chowned to 42 inside: owned by %d on the host, want %d", u, start+42)
	}
	layers, _ := filepath.Glob(filepath.Join(roots[3], "images", "layers", "*", "bin", "busybox"))
	for _, busybox := range layers {
		if u, g := hostOwner(t, busybox); u != 0 || g != 0 {
			t.Errorf("the image's layer %s: owned by %d:%d, want 0:0, unchanged", busybox, u, g)
		}
	}
	if len(layers) == 0 {
		t.Errorf("no layer with bin/busybox under %s", filepath.Join(roots[3], "images"))
	}
	if got := must(t, "exec", "un", "stat", "-c", "%u:%g", "/bin/busybox"); got != "0:0\n" {
		t.Errorf("the image's /bin/busybox inside: owned by %q, want 0:0", got)
	}
	must(t, "commit", "un", "userns-committed")
	t.Cleanup(func() { skiff(t, "rmi", "userns-committed") })
	if got := must(t, "run", "--rm", "userns-committed", "stat", "-c", "%u:%g %n", "/made", "/var/new"); got != "0:0 /made\n42:43 /var/new\n" {
		t.Errorf("the committed image's files: %q, want them owned by 0:0 and 42:43", got)
	}
}

// TestUsernsRunPrivilegeGone: what would make root in a container the
// host's root leads, in a private user namespace, to an unprivileged
// user: a setuid-root program of the container's makes its user root
// inside, and the host's UID 100000-ish; the host's knobs stay closed.
func TestUsernsRunPrivilegeGone(t *testing.T) {
	must(t, "run", "--rm", "--userns", "private", "busybox", "true") // skiff's range, made
	start := skiffRange(t, "/etc/subuid")
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	suid := filepath.Join(dir, "waitids")
	if out, err := exec.Command("cp", self, suid).CombinedOutput(); err != nil {
		t.Fatalf("cp %s: %v %s", self, err, out)
	}
	// Setuid root, the container's root: what an image's su is.
	os.Lchown(suid, start, start)
	if err := unix.Chmod(suid, 0o4755); err != nil {
		t.Fatal(err)
	}
	detached(t, "unsuid", "--userns", "private", "-u", "1000", "-e", "SKIFF_TEST_WAIT_IDS=1", "-v", dir+":/suid",
		"busybox", "/suid/waitids")
	pid := pidOf(t, "unsuid")
	want := fmt.Sprintf("%d %d %d %d", start+1000, start, start, start)
	waitFor(t, "the setuid program's exec", func() bool { return statusIDs(t, pid, "Uid") == want })
	if res := skiff(t, "exec", "unsuid", "sh", "-c", "echo b > /proc/sysrq-trigger"); res.status == 0 {
		t.Errorf("root in the container wrote /proc/sysrq-trigger")
	}
	if res := skiff(t, "exec", "unsuid", "sh", "-c", "mknod /tmp/sda b 8 0"); res.status == 0 {
		t.Errorf("root in the container made a block device node")
	}
}

// TestUsernsRunPod: containers of a pod share a user namespace; a pod
// member with the other mode is refused. Published ports and cgroup
// limits work as without one.
func TestUsernsRunPod(t *testing.T) {
	www := t.TempDir()
	os.Chmod(www, 0o755)
	os.WriteFile(filepath.Join(www, "index.html"), []byte("userns page\n"), 0o644)
	detached(t, "unweb", "--userns", "private", "-p", "8094:80", "-m", "64m", "-v", www+":/www", "busybox", "httpd", "-f", "-p", "80", "-h", "/www")
	if body := httpGet("http://127.0.0.1:8094/"); body != "userns page\n" {
		t.Errorf("the published port of a container in a user namespace: %q", body)
	}
	limit := ""
	for _, dir := range inspect(t, "unweb").Cgroup {
		for _, f := range []string{"memory.max", "memory.limit_in_bytes"} {
			if data, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
				limit = strings.TrimSpace(string(data))
			}
		}
	}
	if limit != "67108864" {
		t.Errorf("the memory limit of a container in a user namespace: %q, want 67108864", limit)
	}
	detached(t, "unmember", "--userns", "private", "--network", "container:unweb", "--ipc", "container:unweb", "busybox", "sleep", "300")
	a, b := pidOf(t, "unweb"), pidOf(t, "unmember")
	must(t, "exec", "unweb", "sh", "-c", "echo shared > /dev/shm/f")
	if out := must(t, "exec", "unmember", "cat", "/dev/shm/f"); out != "shared\n" {
		t.Errorf("the pod's member does not see its owner's /dev/shm: %q", out)
	}
	for ns, same := range map[string]bool{"user": true, "net": true, "ipc": true, "pid": false, "mnt": false} {
		x, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", a, ns))
		y, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", b, ns))
		if (x == y) != same {
			t.Errorf("%s namespace: shared %v, want %v", ns, x == y, same)
		}
	}
	if got := must(t, "exec", "unmember", "sh", "-c", `printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 127.0.0.1 80`); !strings.HasSuffix(got, "userns page\n") {
		t.Errorf("the pod's member cannot reach its httpd on the shared loopback: %q", got)
	}
	res := skiff(t, "run", "--rm", "--network", "container:unweb", "busybox", "true")
	if res.status == 0 || !strings.Contains(res.stderr, "--userns private") {
		t.Errorf("a member without a user namespace: status %d, %q: want a refusal that names --userns private", res.status, res.stderr)
	}
	res = skiff(t, "run", "--rm", "--userns", "private", "--network", "host", "busybox", "true")
	if res.status == 0 || strings.Count(strings.TrimSpace(res.stderr), "\n") > 0 {
		t.Errorf("--userns private --network host: status %d, %q: want a one-line refusal", res.status, res.stderr)
	}
}

// TestUsernsByHand is chapter 10's exercise 2 done by a test: an
// ordinary user (1000) makes a user namespace with unshare, and root,
// outside it, writes its maps as newuidmap and newgidmap would once
// /etc/subuid and /etc/subgid give the user 100000-165535: the user
// itself is root inside, and the IDs from 1 up are the range. A file
// root makes inside is the user's on the host; one given to uid 1
// inside is 100000's.
func TestUsernsByHand(t *testing.T) {
	dir, err := os.MkdirTemp("", "byhand")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	// The shell that unshare starts had no map when it began, so no
	// capabilities inside either: it execs a new one, root in the
	// namespace now, which gets them all there.
	script := `read go; exec sh -c 'id -u; cat /proc/self/uid_map; touch "$1/root" "$1/one" && chown 1:1 "$1/one"' sh "$1"`
	cmd := exec.Command("unshare", "-U", "sh", "-c", script, "sh", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 1000, Gid: 1000}}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	pid := cmd.Process.Pid
	mine, _ := os.Readlink("/proc/self/ns/user")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", pid)); ns != "" && ns != mine {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("unshare -U made no user namespace: %s", out.String())
		}
	}
	for _, m := range []string{"uid_map", "gid_map"} {
		path := fmt.Sprintf("/proc/%d/%s", pid, m)
		if err := os.WriteFile(path, []byte("0 1000 1\n1 100000 65535\n"), 0); err != nil {
			t.Fatalf("write %s: %v", path, err)
		}
	}
	stdin.Write([]byte("go\n"))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sh in the user namespace: %v\n%s", err, out.String())
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	if want := []string{"0", "0 1000 1", "1 100000 65535"}; !slices.Equal(lines, want) {
		t.Errorf("inside: %q, want %q", lines, want)
	}
	for name, owner := range map[string]uint32{"root": 1000, "one": 100000} {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(dir, name), &st); err != nil || st.Uid != owner || st.Gid != owner {
			t.Errorf("%s: %v, owner %d:%d on the host, want %d:%d", name, err, st.Uid, st.Gid, owner, owner)
		}
	}
}
