//go:build vmtest

// Package test runs skiff for real, as root, inside the lesson VM (and
// its TestCgroup* tests also on the host), and asks the kernel what
// happened: namespaces, mounts, cgroup files, links, nftables, addresses.
package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"

	"skiff/internal/network"
)

var roots []string // --root DIR --data-root DIR, shared by all tests

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "skiff-test-")
	if err != nil {
		panic(err)
	}
	roots = []string{"--root", filepath.Join(dir, "run"), "--data-root", filepath.Join(dir, "lib")}
	out, err := exec.Command("skiff", append(roots, "import", os.Getenv("ROOTFS"), "busybox")...).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "skiff import %s busybox: %v\n%s", os.Getenv("ROOTFS"), err, out)
		os.Exit(1)
	}
	status := m.Run()
	removeNetworks()
	os.RemoveAll(dir)
	os.Exit(status)
}

// result is one run of skiff.
type result struct {
	stdout, stderr string
	status         int
}

func skiff(t *testing.T, args ...string) result {
	t.Helper()
	return skiffIn(t, nil, args...)
}

func skiffIn(t *testing.T, stdin []byte, args ...string) result {
	t.Helper()
	cmd := exec.Command("skiff", append(append([]string{}, roots...), args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("skiff %v: %v", args, err)
	}
	return result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
}

// must runs skiff and fails the test unless it exits 0.
func must(t *testing.T, args ...string) string {
	t.Helper()
	r := skiff(t, args...)
	if r.status != 0 {
		t.Fatalf("skiff %s: status %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.status, r.stdout, r.stderr)
	}
	return r.stdout
}

// detached starts a container with -d and removes it at the end of the test.
func detached(t *testing.T, name string, args ...string) {
	t.Helper()
	must(t, append([]string{"run", "-d", "--name", name}, args...)...)
	t.Cleanup(func() { skiff(t, "rm", "-f", name) })
}

// info is the part of `skiff inspect` the tests read.
type info struct {
	ID    string `json:"id"`
	State struct {
		Pid        int  `json:"pid"`
		MonitorPid int  `json:"monitorPid"`
		OOMKilled  bool `json:"oomKilled"`
	} `json:"state"`
	Network struct {
		IP string `json:"ip"`
	} `json:"network"`
	Cgroup []string `json:"cgroup"`
}

func inspect(t *testing.T, name string) info {
	t.Helper()
	var i info
	if err := unmarshalOne(must(t, "inspect", name), &i); err != nil {
		t.Fatalf("inspect %s: %v", name, err)
	}
	return i
}

// unmarshalOne reads the only element of inspect's JSON array into v.
func unmarshalOne(out string, v any) error {
	var all []json.RawMessage
	if err := json.Unmarshal([]byte(out), &all); err != nil {
		return err
	}
	if len(all) != 1 {
		return fmt.Errorf("inspect printed %d objects, want 1", len(all))
	}
	return json.Unmarshal(all[0], v)
}

func pidOf(t *testing.T, name string) int {
	t.Helper()
	pid := inspect(t, name).State.Pid
	if pid == 0 {
		t.Fatalf("container %s has no PID", name)
	}
	return pid
}

func hostMounts(t *testing.T) string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// assertNothingLeft checks that no container, cgroup, veth, nftables
// table or bridge (but those of the networks that exist) of the tests'
// instance, address, port reservation or mount is left on the host.
func assertNothingLeft(t *testing.T, mountsBefore string) {
	t.Helper()
	var left []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		left = left[:0]
		if ps := must(t, "ps", "-a", "-q"); strings.TrimSpace(ps) != "" {
			left = append(left, "containers: "+ps)
		}
		cgs, _ := filepath.Glob("/sys/fs/cgroup/" + cgroupParent() + "/*")
		more, _ := filepath.Glob("/sys/fs/cgroup/*/" + cgroupParent() + "/*")
		for _, d := range append(cgs, more...) {
			if info, err := os.Stat(d); err == nil && info.IsDir() {
				left = append(left, "cgroup "+d)
			}
		}
		links, _ := netlink.LinkList()
		for _, l := range links {
			if strings.HasPrefix(l.Attrs().Name, "veth") {
				left = append(left, "link "+l.Attrs().Name)
			}
		}
		left = append(left, leftoverNetworking()...)
		ips, _ := filepath.Glob(filepath.Join(roots[3], "networks", "*", "ips", "*"))
		ports, _ := filepath.Glob(filepath.Join(roots[3], "networks", "ports", "*"))
		for _, f := range append(ips, ports...) {
			left = append(left, "allocation "+f)
		}
		if mountsBefore != "" && hostMounts(t) != mountsBefore {
			left = append(left, "host mounts changed")
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Fatalf("left behind:\n%s", strings.Join(left, "\n"))
	}
}

// leftoverNetworking lists the nftables tables and bridges of the tests'
// instance of skiff (its tables start with "skiff"+TAG+"-", its bridges
// have the alias "skiff"+TAG+" network "+NAME) but those of the networks
// that exist. Other instances' (other tests' data roots) are theirs to
// check.
func leftoverNetworking() []string {
	networks := filepath.Join(roots[3], "networks")
	tag := network.InstanceTag(roots[3])
	exists := func(name string) bool {
		_, err := os.Stat(filepath.Join(networks, name+".json"))
		return err == nil
	}
	var left []string
	if conn, err := nftables.New(); err == nil {
		tables, _ := conn.ListTables()
		for _, tb := range tables {
			if name, ok := strings.CutPrefix(tb.Name, "skiff"+tag+"-net-"); ok && exists(name) {
				continue // the table of a network that exists
			}
			if strings.HasPrefix(tb.Name, "skiff"+tag+"-") {
				left = append(left, "nft table "+tb.Name)
			}
		}
	}
	links, _ := netlink.LinkList()
	for _, l := range links {
		if name, ok := strings.CutPrefix(l.Attrs().Alias, "skiff"+tag+" network "); ok && !exists(name) {
			left = append(left, "bridge "+l.Attrs().Name+" of network "+name)
		}
	}
	return left
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// removeNetworks removes the tests' networks, whose bridges and tables
// are the host's, and then what prune sweeps: the tests run on the host
// too.
func removeNetworks() {
	out, _ := exec.Command("skiff", append(append([]string{}, roots...), "network", "ls")...).Output()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, line := range lines[min(1, len(lines)):] { // after the header
		if f := strings.Fields(line); len(f) > 0 {
			exec.Command("skiff", append(append([]string{}, roots...), "network", "rm", f[0])...).Run()
		}
	}
	// The default network cannot be removed: a network whose file is
	// gone, prune takes down.
	os.Remove(filepath.Join(roots[3], "networks", network.DefaultName+".json"))
	exec.Command("skiff", append(append([]string{}, roots...), "system", "prune")...).Run()
}
