//go:build vmtest

package test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
)

func TestRunExitStatuses(t *testing.T) {
	before := hostMounts(t)
	if out := must(t, "run", "--rm", "busybox", "echo", "hi"); out != "hi\n" {
		t.Errorf("echo hi: %q", out)
	}
	for _, tc := range []struct {
		args   []string
		status int
	}{
		{[]string{"sh", "-c", "exit 3"}, 3},
		{[]string{"no-such-command"}, 127},
		{[]string{"/etc/passwd"}, 126},
	} {
		r := skiff(t, append([]string{"run", "--rm", "busybox"}, tc.args...)...)
		if r.status != tc.status {
			t.Errorf("%v: status %d, want %d (stderr %q)", tc.args, r.status, tc.status, r.stderr)
		}
	}
	assertNothingLeft(t, before)
}

// TestRunIsolation asks the kernel about the container's namespaces.
func TestRunIsolation(t *testing.T) {
	detached(t, "iso", "--hostname", "box", "busybox", "sleep", "100")
	pid := pidOf(t, "iso")
	for _, ns := range []string{"uts", "ipc", "pid", "mnt", "net"} {
		inside, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
		host, _ := os.Readlink("/proc/self/ns/" + ns)
		if inside == host {
			t.Errorf("the container shares the host's %s namespace", ns)
		}
	}
	if status := readFile(t, fmt.Sprintf("/proc/%d/status", pid)); !strings.Contains(status, fmt.Sprintf("NSpid:\t%d\t1\n", pid)) {
		t.Errorf("the container's process is not PID 1 inside")
	}
	if out := must(t, "exec", "iso", "hostname"); out != "box\n" {
		t.Errorf("hostname = %q", out)
	}
	root := strings.Split(readFile(t, fmt.Sprintf("/proc/%d/mountinfo", pid)), "\n")[0]
	if !strings.Contains(root, " / / ") || !strings.Contains(root, " - overlay ") {
		t.Errorf("the container's root is not an overlay: %q", root)
	}
	if out := must(t, "exec", "iso", "cat", "/etc/hosts"); !strings.Contains(out, "\tiso ") {
		t.Errorf("/etc/hosts does not name the container:\n%s", out)
	}
	// Root inside has Docker's capabilities only: no mounting.
	if r := skiff(t, "exec", "iso", "mount", "-t", "tmpfs", "x", "/mnt"); r.status == 0 {
		t.Error("mount succeeded inside: CAP_SYS_ADMIN was not dropped")
	}
	if r := skiff(t, "exec", "iso", "mknod", "/tmp/kmsg", "c", "1", "11"); r.status == 0 {
		t.Error("mknod succeeded inside: a container could open host devices")
	}
	if out := must(t, "exec", "iso", "cat", "/proc/kcore"); out != "" {
		t.Error("/proc/kcore is not masked")
	}
}

// defaultCaps is the bounding set a container's processes get: Docker's
// default capabilities, 0xa80425fb, less CAP_MKNOD (bit 27) and
// CAP_NET_RAW (bit 13).
const defaultCaps = "00000000a00405fb"

// TestCapabilitiesOfTheCommand: the bounding set is per thread, and init
// must drop it on the very thread that execs the command. Run a few
// times, since a goroutine that moved between threads would fail only
// sometimes; with --init the command is forked from that thread instead.
func TestCapabilitiesOfTheCommand(t *testing.T) {
	for i := 0; i < 5; i++ {
		for _, args := range [][]string{{"run", "--rm"}, {"run", "--rm", "--init"}} {
			out := must(t, append(args, "busybox", "grep", "CapBnd", "/proc/self/status")...)
			if got := strings.TrimSpace(strings.TrimPrefix(out, "CapBnd:")); got != defaultCaps {
				t.Fatalf("%v: CapBnd %s, want %s", args, got, defaultCaps)
			}
		}
	}
}

func TestDetachedLifecycle(t *testing.T) {
	before := hostMounts(t)
	id := strings.TrimSpace(must(t, "run", "-d", "--name", "life", "busybox", "sh", "-c", "echo started; exec sleep 100"))
	if len(id) != 64 {
		t.Fatalf("run -d printed %q, want a 64-digit ID", id)
	}
	if ps := must(t, "ps"); !strings.Contains(ps, "Up ") || !strings.Contains(ps, "life") {
		t.Fatalf("ps:\n%s", ps)
	}
	time.Sleep(300 * time.Millisecond)
	if logs := must(t, "logs", "life"); logs != "started\n" {
		t.Errorf("logs = %q", logs)
	}
	info := inspect(t, "life")
	if info.State.Pid == 0 || info.State.MonitorPid == 0 || !strings.HasPrefix(info.Network.IP, "10.77.0.") || len(info.Cgroup) == 0 {
		t.Errorf("inspect: %+v", info)
	}
	procs := readFile(t, filepath.Join(info.Cgroup[len(info.Cgroup)-1], "cgroup.procs"))
	if !strings.Contains(procs, strconv.Itoa(info.State.Pid)) {
		t.Errorf("the container's process %d is not in its cgroup: %q", info.State.Pid, procs)
	}
	if stats := must(t, "stats", "--no-stream", "life"); !strings.Contains(stats, "life") {
		t.Errorf("stats:\n%s", stats)
	}
	start := time.Now()
	must(t, "stop", "-t", "1", "life")
	if d := time.Since(start); d < time.Second {
		t.Errorf("stop took %v: sleep, PID 1 without a handler, ignores SIGTERM, so SIGKILL must follow after 1 s", d)
	}
	if ps := must(t, "ps", "-a"); !strings.Contains(ps, "Exited (137)") {
		t.Errorf("ps -a after stop:\n%s", ps)
	}
	must(t, "rm", "life")
	assertNothingLeft(t, before)
}

func TestKillSendsTheSignal(t *testing.T) {
	detached(t, "killme", "busybox", "sh", "-c", "trap 'exit 42' USR1; while true; do sleep 0.1; done")
	time.Sleep(300 * time.Millisecond)
	must(t, "kill", "-s", "USR1", "killme")
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(must(t, "ps", "-a"), "Exited (42)") {
		time.Sleep(50 * time.Millisecond)
	}
	if ps := must(t, "ps", "-a"); !strings.Contains(ps, "Exited (42)") {
		t.Fatalf("ps -a:\n%s", ps)
	}
}

// TestExec joins each namespace and the cgroup of a running container.
func TestExec(t *testing.T) {
	detached(t, "ex", "--hostname", "exhost", "-e", "FROM_RUN=1", "busybox", "sleep", "100")
	pid := pidOf(t, "ex")
	checks := map[string]string{
		"hostname":                                       "exhost\n",
		"cat /proc/1/cmdline | tr '\\0' ' '":             "sleep 100 ",
		"ip -o -4 addr show eth0 | cut -d' ' -f7":        inspect(t, "ex").Network.IP + "/24\n",
		"head -1 /proc/self/mountinfo | cut -d' ' -f5,9": "/ overlay\n",
		"grep -c ex /etc/hosts":                          "1\n",
		"echo $FROM_RUN":                                 "1\n",
	}
	for script, want := range checks {
		if out := must(t, "exec", "ex", "sh", "-c", script); out != want {
			t.Errorf("exec %q = %q, want %q", script, out, want)
		}
	}
	cgroup := must(t, "exec", "ex", "cat", "/proc/self/cgroup")
	id := inspect(t, "ex").ID
	if !strings.Contains(cgroup, "/"+cgroupParent()+"/"+id) {
		t.Errorf("exec'd process is not in the container's cgroup:\n%s", cgroup)
	}
	ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid))
	if out := must(t, "exec", "ex", "sh", "-c", "readlink /proc/self/ns/mnt"); strings.TrimSpace(out) != ns {
		t.Errorf("exec'd process mount namespace %q, want %q", out, ns)
	}
	if out := must(t, "exec", "-u", "nobody:nogroup", "-w", "/tmp", "-e", "X=y", "ex", "sh", "-c", "id -u; id -g; pwd; echo $X"); out != "65534\n65534\n/tmp\ny\n" {
		t.Errorf("exec -u -w -e: %q", out)
	}
	if r := skiff(t, "exec", "ex", "no-such-command"); r.status != 127 {
		t.Errorf("exec of a missing command: status %d", r.status)
	}
	if r := skiff(t, "exec", "ex", "sh", "-c", "exit 7"); r.status != 7 {
		t.Errorf("exec status %d, want 7", r.status)
	}
	if out := string(skiffIn(t, []byte("hello\n"), "exec", "-i", "ex", "cat").stdout); out != "hello\n" {
		t.Errorf("exec -i: %q", out)
	}
}

func TestRunOptions(t *testing.T) {
	vol := t.TempDir()
	os.WriteFile(filepath.Join(vol, "in"), []byte("from host\n"), 0o644)
	out := must(t, "run", "--rm", "-u", "65534", "-w", "/work", "-e", "A=b", "-v", vol+":/data", "-v", vol+":/ro:ro",
		"busybox", "sh", "-c", "id -u; pwd; echo $A; cat /data/in; echo x > /ro/f || echo ro")
	if out != "65534\n/work\nb\nfrom host\nro\n" {
		t.Errorf("run options: %q", out)
	}
	if r := skiff(t, "run", "--rm", "--read-only", "busybox", "touch", "/x"); r.status == 0 || !strings.Contains(r.stderr, "Read-only") {
		t.Errorf("--read-only: status %d, %q", r.status, r.stderr)
	}
	if out := must(t, "run", "--rm", "--read-only", "busybox", "sh", "-c", "touch /tmp/../dev/shm/ok && echo ok"); out != "ok\n" {
		t.Errorf("--read-only should leave /dev/shm writable: %q", out)
	}
	if out := must(t, "run", "--rm", "--network", "none", "busybox", "sh", "-c", "ip -o link | cut -d: -f2"); strings.TrimSpace(out) != "lo" {
		t.Errorf("--network none: %q", out)
	}
	for _, network := range []string{"none", "bridge"} {
		if out := must(t, "run", "--rm", "--network", network, "busybox", "ip", "-o", "link", "show", "lo"); !strings.Contains(out, ",UP") {
			t.Errorf("--network %s: lo is not up: %q", network, out)
		}
	}
	hostNS, _ := os.Readlink("/proc/self/ns/net")
	if out := must(t, "run", "--rm", "--network", "host", "busybox", "readlink", "/proc/self/ns/net"); strings.TrimSpace(out) != hostNS {
		t.Errorf("--network host: the container's network namespace is %q, the host's %q", out, hostNS)
	}
}

func TestCgroupMemoryLimitOOMKills(t *testing.T) {
	r := skiff(t, "run", "--name", "hog", "-m", "16m", "busybox", "tail", "/dev/zero")
	defer skiff(t, "rm", "hog")
	if r.status != 137 {
		t.Fatalf("memory hog: status %d, want 137 (stderr %q)", r.status, r.stderr)
	}
	if !inspect(t, "hog").State.OOMKilled {
		t.Error("inspect does not say oomKilled")
	}
	if ps := must(t, "ps", "-a"); !strings.Contains(ps, "OOM killed") {
		t.Errorf("ps -a:\n%s", ps)
	}
}

func TestCgroupLimitsAndStats(t *testing.T) {
	detached(t, "lim", "-m", "64m", "--cpus", "0.5", "--pids-limit", "20", "busybox", "sleep", "100")
	info := inspect(t, "lim")
	files := map[string]string{}
	for _, dir := range info.Cgroup {
		for _, f := range []string{"memory.max", "cpu.max", "pids.max", "memory.limit_in_bytes", "cpu.cfs_quota_us"} {
			if data, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
				files[f] = strings.TrimSpace(string(data))
			}
		}
	}
	if files["memory.max"] != "67108864" && files["memory.limit_in_bytes"] != "67108864" {
		t.Errorf("memory limit not written: %v", files)
	}
	if files["cpu.max"] != "50000 100000" && files["cpu.cfs_quota_us"] != "50000" {
		t.Errorf("cpu limit not written: %v", files)
	}
	if files["pids.max"] != "20" {
		t.Errorf("pids limit not written: %v", files)
	}
	stats := must(t, "stats", "--no-stream", "lim")
	if !strings.Contains(stats, "/ 64.0 MiB") || !regexp.MustCompile(`(?m)^[0-9a-f]{12} +lim `).MatchString(stats) {
		t.Errorf("stats:\n%s", stats)
	}
}

// TestCgroupBornInside: the container's first process starts in its
// cgroup and nothing of skiff stays there; an exec'd command starts there
// too, while skiff exec itself stays out.
func TestCgroupBornInside(t *testing.T) {
	detached(t, "born", "busybox", "sleep", "100")
	info := inspect(t, "born")
	threadsFile := "tasks" // v1: every thread
	if len(info.Cgroup) == 1 {
		threadsFile = "cgroup.threads"
	}
	for _, dir := range info.Cgroup {
		if tids := strings.Fields(readFile(t, filepath.Join(dir, threadsFile))); len(tids) != 1 || tids[0] != strconv.Itoa(info.State.Pid) {
			t.Errorf("%s/%s lists %v, want the container's sleep alone (%d)", dir, threadsFile, tids, info.State.Pid)
		}
	}
	// One line per hierarchy: "4:memory:/PARENT/ID" on v1, "0::/PARENT/ID" on v2.
	inside := 0
	for _, line := range strings.Split(readFile(t, fmt.Sprintf("/proc/%d/cgroup", info.State.Pid)), "\n") {
		if strings.HasSuffix(line, ":/"+cgroupParent()+"/"+info.ID) {
			inside++
		}
	}
	if want := min(len(info.Cgroup), 3); inside < want { // cpu and cpuacct may be one hierarchy
		t.Errorf("the container's process is in %d of its cgroups, want %d", inside, want)
	}
	execCmd := exec.Command("skiff", append(append([]string{}, roots...), "exec", "born", "sleep", "3")...)
	if err := execCmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer execCmd.Wait()
	// On v1 the thread of skiff exec that forks is in the cgroup for a
	// moment, by design: wait for the command to run.
	execPid := strconv.Itoa(execCmd.Process.Pid)
	var procs []string
	for try := 0; try < 50; try++ {
		time.Sleep(50 * time.Millisecond)
		procs = strings.Fields(readFile(t, filepath.Join(info.Cgroup[0], "cgroup.procs")))
		if len(procs) == 2 && !slices.Contains(procs, execPid) {
			return
		}
	}
	t.Errorf("while skiff exec (PID %s) runs sleep, the cgroup holds %v: want the two sleeps alone", execPid, procs)
}

// TestPod: a pause container holds the namespaces, a sidecar serves on its
// localhost, a client reaches it there and sees its processes.
func TestPod(t *testing.T) {
	detached(t, "pause", "busybox", "sleep", "1000")
	www := t.TempDir()
	os.WriteFile(filepath.Join(www, "index.html"), []byte("pod says hi\n"), 0o644)
	detached(t, "web", "--network", "container:pause", "--ipc", "container:pause", "--pid", "container:pause",
		"-v", www+":/www", "busybox", "httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/www")
	time.Sleep(300 * time.Millisecond)
	out := must(t, "run", "--rm", "--network", "container:pause", "--pid", "container:pause", "busybox", "sh", "-c",
		"wget -q -O - http://127.0.0.1:8080/; ps -o comm | sort | tr '\\n' ' '")
	if !strings.HasPrefix(out, "pod says hi\n") || !strings.Contains(out, "httpd") || !strings.Contains(out, "sleep") {
		t.Errorf("pod: %q", out)
	}
	pausePid, webPid := pidOf(t, "pause"), pidOf(t, "web")
	for _, ns := range []string{"net", "ipc", "pid"} {
		a, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pausePid, ns))
		b, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", webPid, ns))
		if a != b {
			t.Errorf("web does not share pause's %s namespace", ns)
		}
	}
}

func TestNetworksByName(t *testing.T) {
	must(t, "network", "create", "--subnet", "10.123.0.0/24", "testnet")
	defer skiff(t, "network", "rm", "testnet")
	detached(t, "alpha", "--network", "testnet", "busybox", "sleep", "100")
	if ip := inspect(t, "alpha").Network.IP; !strings.HasPrefix(ip, "10.123.0.") {
		t.Errorf("alpha's address %s is not on testnet", ip)
	}
	if r := skiff(t, "run", "--rm", "--network", "testnet", "--cap-add", "NET_RAW", "busybox", "ping", "-c", "1", "-W", "5", "alpha"); r.status != 0 {
		t.Errorf("ping alpha by name: %d %s %s", r.status, r.stdout, r.stderr)
	}
	if ls := must(t, "network", "ls"); !strings.Contains(ls, "testnet") || !strings.Contains(ls, "10.123.0.0/24") {
		t.Errorf("network ls:\n%s", ls)
	}
	if r := skiff(t, "network", "rm", "testnet"); r.status == 0 {
		t.Error("removed a network in use")
	}
	// Containers without published ports add nothing to nftables: the
	// network's own table masquerades its whole subnet.
	p := tablePrefix(roots)
	if tables := skiffTables(t); !slices.Equal(tables, []string{p + "net-testnet"}) && !slices.Equal(tables, []string{p + "net-bridge", p + "net-testnet"}) {
		t.Errorf("nftables tables %v, want only the networks' own", tables)
	}
	must(t, "rm", "-f", "alpha")
	must(t, "network", "rm", "testnet")
	if tables := skiffTables(t); slices.Contains(tables, p+"net-testnet") {
		t.Errorf("network rm left its nftables table: %v", tables)
	}
}

// skiffTables lists the nftables tables of the tests' instance of skiff, sorted.
func skiffTables(t *testing.T) []string {
	conn, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tables, err := conn.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tb := range tables {
		if strings.HasPrefix(tb.Name, tablePrefix(roots)) {
			names = append(names, tb.Name)
		}
	}
	slices.Sort(names)
	return names
}

func TestPublishedPort(t *testing.T) {
	www := t.TempDir()
	os.WriteFile(filepath.Join(www, "index.html"), []byte("published\n"), 0o644)
	detached(t, "pub", "-p", "8081:80", "-v", www+":/www", "busybox", "httpd", "-f", "-p", "80", "-h", "/www")
	for _, url := range []string{"http://127.0.0.1:8081/", "http://10.77.0.1:8081/"} {
		var body string
		for try := 0; try < 50 && body == ""; try++ {
			if resp, err := http.Get(url); err == nil {
				data, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				body = string(data)
			} else {
				time.Sleep(100 * time.Millisecond)
			}
		}
		if body != "published\n" {
			t.Errorf("GET %s = %q", url, body)
		}
	}
	// The container reaches its own published port through the host
	// (hairpin mode on its bridge port), as other containers do.
	if out := must(t, "exec", "pub", "wget", "-q", "-O", "-", "http://10.77.0.1:8081/"); out != "published\n" {
		t.Errorf("the container through its own published port: %q", out)
	}
	if !hasGuardChain(t) {
		t.Error("no guard chain: route_localnet would open the host's loopback to containers")
	}
	if r := skiff(t, "run", "--rm", "-p", "8081:80", "busybox", "true"); r.status != 125 || !strings.Contains(r.stderr, "already published") {
		t.Errorf("a second container on port 8081: status %d, %q", r.status, r.stderr)
	}
}

// TestConcurrentRuns: 50 containers at once on one network, each with an
// address of its own, and nothing left afterwards.
func TestConcurrentRuns(t *testing.T) {
	before := hostMounts(t)
	// Each container leaves a file named after its address in a shared
	// volume and waits until there are 50 of them (or 30 s pass), so all
	// hold their address at once: an address may be reused only later.
	shared := t.TempDir()
	script := `ip=$(ip -o -4 addr show eth0 | cut -d' ' -f7); touch /shared/${ip%/*}
		for i in $(seq 300); do [ $(ls /shared | wc -l) -ge 50 ] && break; sleep 0.1; done; echo $ip`
	var wg sync.WaitGroup
	ips := make(chan string, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := skiff(t, "run", "--rm", "-v", shared+":/shared", "busybox", "sh", "-c", script)
			ips <- strings.TrimSpace(r.stdout) + r.stderr
		}()
	}
	wg.Wait()
	close(ips)
	seen := map[string]bool{}
	for ip := range ips {
		if !strings.HasPrefix(ip, "10.77.0.") || seen[ip] {
			t.Errorf("address %q missing or given twice", ip)
		}
		seen[ip] = true
	}
	assertNothingLeft(t, before)
}

// TestMonitorKilled: the monitor of a detached container is killed with
// SIGKILL. ps still tells the truth, and rm -f recovers everything.
func TestMonitorKilled(t *testing.T) {
	before := hostMounts(t)
	must(t, "run", "-d", "--name", "orphan", "-p", "8082:80", "busybox", "sleep", "100")
	syscall.Kill(inspect(t, "orphan").State.MonitorPid, syscall.SIGKILL)
	time.Sleep(200 * time.Millisecond)
	if ps := must(t, "ps"); !strings.Contains(ps, "orphan") {
		t.Errorf("the container died with its monitor:\n%s", ps)
	}
	syscall.Kill(pidOf(t, "orphan"), syscall.SIGKILL)
	time.Sleep(200 * time.Millisecond)
	if ps := must(t, "ps", "-a"); !strings.Contains(ps, "Dead") {
		t.Errorf("ps -a does not show the container dead:\n%s", ps)
	}
	must(t, "rm", "-f", "orphan")
	assertNothingLeft(t, before)
}

// TestSystemPrune: prune removes what runtimes killed with SIGKILL left
// behind, found by a sweep when even the container's folder is gone, and
// what a network whose file was deleted by hand left, but neither a
// running container nor one whose runtime is alive and still starting it.
func TestSystemPrune(t *testing.T) {
	before := hostMounts(t)
	detached(t, "running", "busybox", "sleep", "100")
	assertMonitors(t, "running")

	// A container of a network whose file is then deleted, with a
	// published port, whose monitor, process and folder are all gone.
	must(t, "network", "create", "doomed")
	must(t, "run", "-d", "--name", "killed", "--network", "doomed", "-p", "8083:80", "busybox", "sleep", "100")
	killed := inspect(t, "killed")
	syscall.Kill(killed.State.MonitorPid, syscall.SIGKILL)
	syscall.Kill(killed.State.Pid, syscall.SIGKILL)
	os.RemoveAll(filepath.Join(roots[1], "containers", killed.ID))
	doomedBridge := bridgeOf(t, roots, "doomed")
	os.Remove(filepath.Join(roots[3], "networks", "doomed.json"))

	// A container in the "created" state whose monitor (this test) lives
	// is being started: prune leaves it. Once its monitor is gone, it is
	// a leftover.
	detached(t, "starting", "busybox", "true")
	for try := 0; try < 100 && !strings.Contains(must(t, "ps", "-a"), "Exited"); try++ {
		time.Sleep(50 * time.Millisecond)
	}
	// Its runtime, simulated: the state says "created", and this test
	// holds the owner lock a live runtime holds.
	dir := filepath.Join(roots[1], "containers", inspect(t, "starting").ID)
	if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte(`{"status": "created"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	owner, err := os.OpenFile(filepath.Join(dir, "owner"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(owner.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}

	if r := skiff(t, "rm", "starting"); r.status != 125 || !strings.Contains(r.stderr, "is being started") {
		t.Errorf("rm of a container being started: status %d, %q", r.status, r.stderr)
	}
	out := must(t, "system", "prune")
	if ps := must(t, "ps", "-a"); !strings.Contains(ps, "running") || !strings.Contains(ps, "starting") {
		t.Errorf("after prune, want running and starting kept:\n%s\nprune said:\n%s", ps, out)
	}
	if tables := skiffTables(t); slices.Contains(tables, tablePrefix(roots)+"net-doomed") || slices.Contains(tables, tablePrefix(roots)+killed.ID[:12]) {
		t.Errorf("prune left the killed container's or the deleted network's table: %v", tables)
	}
	if _, err := netlink.LinkByName(doomedBridge); err == nil {
		t.Error("prune left the bridge of the deleted network")
	}
	cgroups, _ := filepath.Glob("/sys/fs/cgroup/*/" + cgroupParent() + "/" + killed.ID)
	for _, leftover := range append(cgroups, filepath.Join(roots[3], "networks", "doomed"), filepath.Join(roots[3], "networks", "ports", "8083")) {
		if _, err := os.Stat(leftover); err == nil {
			t.Errorf("prune left %s", leftover)
		}
	}

	owner.Close() // its runtime died
	if ps := must(t, "ps", "-a"); !strings.Contains(ps, "its runtime died before starting it") {
		t.Errorf("ps -a should show the created container whose monitor is gone as dead:\n%s", ps)
	}
	must(t, "system", "prune")
	if ps := must(t, "ps", "-a"); strings.Contains(ps, "starting") {
		t.Errorf("prune kept a created container whose monitor is gone:\n%s", ps)
	}
	must(t, "rm", "-f", "running")
	assertNothingLeft(t, before)
	// The cgroup folder that holds the containers' stays between them;
	// prune removes it once it is empty.
	must(t, "system", "prune")
	if parents, _ := filepath.Glob("/sys/fs/cgroup/*/" + cgroupParent()); len(parents) > 0 {
		t.Errorf("prune left the parent cgroup folders %v", parents)
	}
	if _, err := os.Stat("/sys/fs/cgroup/" + cgroupParent()); err == nil {
		t.Errorf("prune left the parent cgroup folder /sys/fs/cgroup/%s", cgroupParent())
	}
}

// assertMonitors checks that the detached container name records its
// monitor process, and that a foreground `skiff run` records itself.
func assertMonitors(t *testing.T, name string) {
	t.Helper()
	monitor := inspect(t, name).State.MonitorPid
	if cmdline := readFile(t, fmt.Sprintf("/proc/%d/cmdline", monitor)); !strings.Contains(cmdline, "monitor\x00") {
		t.Errorf("the monitor of %s is recorded as %d, which runs %q", name, monitor, cmdline)
	}
	fg := exec.Command("skiff", append(append([]string{}, roots...), "run", "--rm", "--name", "foreground", "busybox", "sleep", "1")...)
	if err := fg.Start(); err != nil {
		t.Fatal(err)
	}
	defer fg.Wait()
	for try := 0; try < 100; try++ {
		if r := skiff(t, "inspect", "foreground"); r.status == 0 {
			var i info
			unmarshalOne(r.stdout, &i)
			if i.State.MonitorPid != fg.Process.Pid {
				t.Errorf("a foreground run's monitor is recorded as %d, want skiff run itself, %d", i.State.MonitorPid, fg.Process.Pid)
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Error("the foreground container never showed in inspect")
}

// TestSignalBeforeStart: a Ctrl-C that reaches `skiff run` while it waits
// for the store's lock, before the container's process exists, stops the
// start: the command never runs, nothing is left, and the status is 130.
func TestSignalBeforeStart(t *testing.T) {
	before := hostMounts(t)
	os.MkdirAll(roots[1], 0o711)
	lock, err := os.OpenFile(filepath.Join(roots[1], "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	shared := t.TempDir()
	run := exec.Command("skiff", append(append([]string{}, roots...), "run", "--rm", "-v", shared+":/shared", "busybox", "touch", "/shared/ran")...)
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // skiff is blocked in Store.Create, its signals caught
	run.Process.Signal(syscall.SIGINT)
	time.Sleep(100 * time.Millisecond)
	syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	run.Wait()
	if status := run.ProcessState.ExitCode(); status != 130 {
		t.Errorf("skiff run interrupted before the start: status %d, want 130", status)
	}
	if _, err := os.Stat(filepath.Join(shared, "ran")); err == nil {
		t.Error("the command ran although skiff run was interrupted before it started")
	}
	assertNothingLeft(t, before)
}

func TestInitReapsAndForwards(t *testing.T) {
	out := must(t, "run", "--rm", "--init", "busybox", "sh", "-c", "test $$ != 1 && cat /proc/1/comm")
	if out != "skiff-init\n" {
		t.Errorf("with --init, PID 1 is skiff-init and the command another process: %q", out)
	}
	detached(t, "inited", "--init", "busybox", "sleep", "100")
	start := time.Now()
	must(t, "stop", "-t", "5", "inited")
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stop took %v: --init should forward SIGTERM to sleep, which then dies at once", d)
	}
	if ps := must(t, "ps", "-a"); !strings.Contains(ps, "Exited (143)") {
		t.Errorf("ps -a:\n%s", ps)
	}
}

// hasGuardChain: the default network's nftables table drops packets from the
// bridge to 127.0.0.0/8 at prerouting, priority raw.
func hasGuardChain(t *testing.T) bool {
	conn, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	chains, _ := conn.ListChains()
	for _, c := range chains {
		if c.Name == "guard" && c.Table.Name == tablePrefix(roots)+"net-bridge" && *c.Priority == *nftables.ChainPriorityRaw {
			rules, _ := conn.GetRules(c.Table, c)
			if len(rules) == 1 {
				v, ok := rules[0].Exprs[len(rules[0].Exprs)-1].(*expr.Verdict)
				return ok && v.Kind == expr.VerdictDrop
			}
		}
	}
	return false
}
