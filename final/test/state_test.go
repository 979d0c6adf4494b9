//go:build vmtest

package test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"skiff/internal/network"
)

// cgroupParent is the cgroup folder of the tests' containers: one of
// their data root's own, as skiff names it for a data root that is not
// the default one.
func cgroupParent() string { return "skiff" + network.InstanceTag(roots[3]) }

// containerDir is the folder of a container, by ID.
func containerDir(id string) string { return filepath.Join(roots[1], "containers", id) }

// TestBrokenContainers: a container whose state.json or container.json was
// cut short is still listed, as broken, and rm -f or system prune remove
// it with everything it held: its processes, cgroup and address.
func TestBrokenContainers(t *testing.T) {
	before := hostMounts(t)
	for _, file := range []string{"state.json", "container.json"} {
		for _, remove := range [][]string{{"rm", "-f"}, {"system", "prune"}} {
			t.Run(file+"/"+strings.Join(remove, " "), func(t *testing.T) {
				must(t, "run", "-d", "--name", "victim", "-p", "8091:80", "busybox", "sleep", "100")
				i := inspect(t, "victim")
				// Its monitor would rewrite the state when the container
				// exits: kill it, as a crash would.
				syscall.Kill(i.State.MonitorPid, syscall.SIGKILL)
				time.Sleep(100 * time.Millisecond)
				if err := os.Truncate(filepath.Join(containerDir(i.ID), file), 7); err != nil {
					t.Fatal(err)
				}
				ps := must(t, "ps", "-a")
				if !strings.Contains(ps, i.ID[:12]) || !strings.Contains(ps, "Broken ("+file) {
					t.Errorf("ps -a does not list the broken container:\n%s", ps)
				}
				if r := skiff(t, "rm", i.ID[:12]); r.status != 125 || !strings.Contains(r.stderr, "broken") {
					t.Errorf("rm without -f of a broken container: status %d, %q", r.status, r.stderr)
				}
				args := remove
				if remove[0] == "rm" {
					args = append(args, i.ID[:12])
				}
				out := must(t, args...)
				if want := map[string]string{"state.json": "victim", "container.json": i.ID[:12]}[file]; !strings.Contains(out, want) {
					t.Errorf("%v printed %q", remove, out)
				}
				if _, err := os.Stat(fmt.Sprintf("/proc/%d", i.State.Pid)); err == nil {
					t.Errorf("the broken container's process %d still runs", i.State.Pid)
				}
				if _, err := os.Stat(containerDir(i.ID)); err == nil {
					t.Error("its folder is still there")
				}
				// Its name is free again.
				must(t, "run", "--rm", "--name", "victim", "busybox", "true")
				assertNothingLeft(t, before)
			})
		}
	}
}

// TestBrokenWhileMonitored: rm -f of a container whose state.json is cut
// short while it runs and its monitor waits for it kills it through its
// cgroup; the monitor then records the exit and goes.
func TestBrokenWhileMonitored(t *testing.T) {
	before := hostMounts(t)
	must(t, "run", "-d", "--name", "watched", "busybox", "sleep", "100")
	i := inspect(t, "watched")
	if err := os.Truncate(filepath.Join(containerDir(i.ID), "state.json"), 7); err != nil {
		t.Fatal(err)
	}
	must(t, "rm", "-f", i.ID[:12])
	for _, pid := range []int{i.State.Pid, i.State.MonitorPid} {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			t.Errorf("process %d (the container's, or its monitor) still runs", pid)
		}
	}
	assertNothingLeft(t, before)
}

// TestKilledAtAnyMoment: skiff run and skiff rm -f killed with SIGKILL at
// moments spread over their whole run leave folders, cgroups, addresses
// and tables that system prune removes, every one of them.
func TestKilledAtAnyMoment(t *testing.T) {
	before := hostMounts(t)
	// How long a whole run takes here, to spread the kills over it.
	start := time.Now()
	must(t, "run", "--rm", "-p", "8092:80", "busybox", "true")
	span := time.Since(start)
	rng := rand.New(rand.NewPCG(1, 2))
	const runs = 40
	for i := 0; i < runs; i++ {
		args := []string{"run", "--rm", "-p", "8092:80", "busybox", "true"}
		if i%4 == 1 {
			args = []string{"run", "-d", "busybox", "sleep", "1"}
		}
		killAfter(t, time.Duration(rng.Int64N(int64(span))), args...)
		if i%4 == 3 { // and an rm -f of whatever the others left
			ids := strings.Fields(must(t, "ps", "-a", "-q"))
			if len(ids) > 0 {
				killAfter(t, time.Duration(rng.Int64N(int64(span/2))), "rm", "-f", ids[0])
			}
		}
	}
	time.Sleep(1500 * time.Millisecond) // the detached ones' sleep 1 ends
	// And the partial states a kill leaves at the worst moments, made by
	// hand: an empty folder (killed after mkdir), a config without a
	// state but with a temporary one, a removal cut short.
	partial := map[string]string{
		strings.Repeat("a", 64):                                      "",
		strings.Repeat("b", 64) + "/container.json":                  `{"id": "` + strings.Repeat("b", 64) + `"}`,
		strings.Repeat("b", 64) + "/.state.json.tmp-42":              `{"sta`,
		".removing-" + strings.Repeat("c", 64) + "/upper/etc/passwd": "x",
	}
	for name, content := range partial {
		path := containerDir(name)
		if content == "" {
			os.MkdirAll(path, 0o700)
			continue
		}
		os.MkdirAll(filepath.Dir(path), 0o700)
		os.WriteFile(path, []byte(content), 0o600)
	}
	// And a host port taken by a run killed before it took an address.
	os.MkdirAll(filepath.Join(roots[3], "networks", "ports"), 0o755)
	os.WriteFile(filepath.Join(roots[3], "networks", "ports", "8093"), []byte(strings.Repeat("d", 64)), 0o644)
	out := must(t, "system", "prune")
	if ps := must(t, "ps", "-a", "-q"); ps != "" {
		t.Errorf("after prune, containers are left:\n%s\nprune said:\n%s", ps, out)
	}
	if left, _ := os.ReadDir(filepath.Join(roots[1], "containers")); len(left) > 0 {
		var names []string
		for _, e := range left {
			entries, _ := os.ReadDir(containerDir(e.Name()))
			var files []string
			for _, f := range entries {
				files = append(files, f.Name())
			}
			names = append(names, e.Name()+" "+fmt.Sprint(files))
		}
		t.Errorf("after prune, container folders are left:\n%s\nprune said:\n%s", strings.Join(names, "\n"), out)
	}
	assertNothingLeft(t, before)
}

// killAfter starts skiff with args and kills it with SIGKILL after d.
func killAfter(t *testing.T, d time.Duration, args ...string) {
	t.Helper()
	cmd := exec.Command("skiff", append(append([]string{}, roots...), args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(d)
	cmd.Process.Kill()
	cmd.Wait()
}

// TestRootsArePrivate: no host user but root can reach a container's
// files, where a setuid-root binary the container made would give it
// root, whatever the umask skiff ran with, and an existing install with
// open folders is tightened.
func TestRootsArePrivate(t *testing.T) {
	parent := t.TempDir()
	os.Chmod(parent, 0o755) // as /run and /var/lib are
	mine := []string{"--root", filepath.Join(parent, "run"), "--data-root", filepath.Join(parent, "lib")}
	for _, dir := range []string{mine[1], mine[3]} { // an old install, open to all
		os.MkdirAll(dir, 0o755)
	}
	sh := func(script string) string {
		t.Helper()
		cmd := exec.Command("sh", "-c", "umask 000; "+script)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", script, err, out)
		}
		return string(out)
	}
	skiffCmd := "skiff " + strings.Join(mine, " ")
	sh(skiffCmd + " import " + os.Getenv("ROOTFS") + " busybox")
	id := strings.TrimSpace(sh(skiffCmd + " run -d busybox sh -c 'cp /bin/busybox /suid; chmod 4755 /suid; sleep 100'"))
	t.Cleanup(func() {
		sh(skiffCmd + " rm -f " + id)
		removeDefaultNetwork(t, mine)
	})
	time.Sleep(500 * time.Millisecond)
	suid := filepath.Join(mine[1], "containers", id, "upper", "suid")
	if info, err := os.Stat(suid); err != nil || info.Mode()&os.ModeSetuid == 0 {
		t.Fatalf("the container's setuid copy is not in its upper layer: %v", err)
	}
	for _, dir := range []string{mine[1], mine[3]} {
		if info, _ := os.Stat(dir); info.Mode().Perm() != 0o700 {
			t.Errorf("%s has mode %v, want 0700", dir, info.Mode().Perm())
		}
	}
	for _, path := range []string{suid, filepath.Join(mine[3], "images", "layers")} {
		nobody := exec.Command("ls", path)
		nobody.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := nobody.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "Permission denied") {
			t.Errorf("the host user nobody reaches %s: %v, %s", path, err, out)
		}
	}
}

// TestRelativeRootfs: a bare relative path is not taken for a root
// filesystem ("../../etc" from /usr/share would be the host's /etc), but
// "./DIR" is.
func TestRelativeRootfs(t *testing.T) {
	top := t.TempDir()
	os.MkdirAll(filepath.Join(top, "etc"), 0o755)
	os.MkdirAll(filepath.Join(top, "a", "b"), 0o755)
	cmd := exec.Command("skiff", append(append([]string{}, roots...), "run", "--rm", "../../etc", "true")...)
	cmd.Dir = filepath.Join(top, "a", "b")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "./") {
		t.Errorf("skiff run ../../etc: %v, %s", err, out)
	}
	cmd = exec.Command("skiff", append(append([]string{}, roots...), "run", "--rm", "./rootfs", "echo", "ok")...)
	cmd.Dir = filepath.Dir(os.Getenv("ROOTFS"))
	if out, err := cmd.CombinedOutput(); err != nil || string(out) != "ok\n" {
		t.Errorf("skiff run ./rootfs from %s: %v, %s", cmd.Dir, err, out)
	}
}

// TestVolumesOverSystemMounts: a volume under /dev is mounted on top of
// the container's /dev, not hidden beneath it.
func TestVolumesOverSystemMounts(t *testing.T) {
	vol := t.TempDir()
	os.WriteFile(filepath.Join(vol, "f"), []byte("vol\n"), 0o644)
	out := must(t, "run", "--rm", "-v", vol+":/dev/vol", "busybox", "sh", "-c", "cat /dev/vol/f; test -c /dev/null && echo null")
	if out != "vol\nnull\n" {
		t.Errorf("a volume under /dev: %q", out)
	}
}

// TestPodOwnerRemoved: removing the container whose network namespace a
// pod's members joined stops them too, before its address is given out
// again: no other container may get an address still in use.
func TestPodOwnerRemoved(t *testing.T) {
	before := hostMounts(t)
	detached(t, "owner", "busybox", "sleep", "100")
	detached(t, "member", "--network", "container:owner", "--ipc", "container:owner", "busybox", "sleep", "100")
	ip := inspect(t, "owner").Network.IP
	memberPid := pidOf(t, "member")
	must(t, "rm", "-f", "owner")
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", memberPid)); err == nil {
		t.Errorf("the pod's member still runs after its owner was removed")
	}
	if ps := must(t, "ps", "-a"); !strings.Contains(ps, "Exited (137)") || !strings.Contains(ps, "member") {
		t.Errorf("ps -a, want the member killed:\n%s", ps)
	}
	// The owner's address is free now, and only now.
	detached(t, "next", "busybox", "sleep", "100")
	if got := inspect(t, "next").Network.IP; got != ip {
		t.Errorf("the next container got %s, want the owner's freed %s", got, ip)
	}
	must(t, "rm", "-f", "next", "member")
	assertNothingLeft(t, before)
}

// TestCgroupPruneSweepsEachOnce: prune finds the cgroup of a container
// whose folder is gone, in every hierarchy (four on v1), removes it and
// says so once.
func TestCgroupPruneSweepsEachOnce(t *testing.T) {
	must(t, "run", "-d", "--name", "swept", "--network", "none", "busybox", "sleep", "100")
	i := inspect(t, "swept")
	syscall.Kill(i.State.MonitorPid, syscall.SIGKILL)
	syscall.Kill(i.State.Pid, syscall.SIGKILL)
	time.Sleep(100 * time.Millisecond)
	os.RemoveAll(containerDir(i.ID))
	out := must(t, "system", "prune")
	if n := strings.Count(out, "removed cgroup "+i.ID); n != 1 {
		t.Errorf("prune said %d times that it removed the cgroup, want once:\n%s", n, out)
	}
	for _, dir := range i.Cgroup {
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("prune left %s", dir)
		}
	}
}
