package cgroups

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// v1Controllers are the hierarchies a container gets a folder in. cpuacct
// is often mounted together with cpu; then both paths are one folder.
// devices holds the container's device allowlist (package devices).
var v1Controllers = []string{"memory", "cpu", "cpuacct", "pids", "devices"}

// v1 is a cgroup in the v1 layout: one folder per controller hierarchy.
type v1 struct{ dirs []v1Dir }

type v1Dir struct{ controller, path string }

func (m *v1) Paths() []string {
	var paths []string
	for _, d := range m.dirs {
		paths = append(paths, d.path)
	}
	return paths
}

func (m *v1) dir(controller string) string {
	for _, d := range m.dirs {
		if d.controller == controller {
			return d.path
		}
	}
	return ""
}

func (m *v1) create() error {
	for _, d := range m.dirs {
		var fs unix.Statfs_t
		hierarchy := filepath.Join(Root, d.controller)
		if err := unix.Statfs(hierarchy, &fs); err != nil || fs.Type != unix.CGROUP_SUPER_MAGIC {
			return fmt.Errorf("cgroup v1: no %s hierarchy is mounted at %s", d.controller, hierarchy)
		}
		if err := makeDir(d.path, nil); err != nil {
			return fmt.Errorf("mkdir %s: %w", d.path, err)
		}
	}
	return nil
}

func (m *v1) Set(r Resources) error {
	if r.Memory > 0 {
		if err := writeFile(m.dir("memory"), "memory.limit_in_bytes", strconv.FormatInt(r.Memory, 10)); err != nil {
			return err
		}
	}
	if r.CPUs > 0 {
		if err := writeFile(m.dir("cpu"), "cpu.cfs_period_us", strconv.Itoa(cpuPeriod)); err != nil {
			return err
		}
		if err := writeFile(m.dir("cpu"), "cpu.cfs_quota_us", cpuQuota(r.CPUs)); err != nil {
			return err
		}
	}
	if r.Pids > 0 {
		return writeFile(m.dir("pids"), "pids.max", strconv.FormatInt(r.Pids, 10))
	}
	return nil
}

// ForkInto has no clone flag to use on v1: a child is born in the
// cgroups of the thread that forks it. So the step moves that one thread
// into the container's cgroups and, after the fork, back home.
//
// Moving the whole process afterwards (its PID into cgroup.procs) would
// work too, but the kernel then takes its global cgroup_threadgroup_rwsem
// for writing, which waits for an RCU grace period (10-30 ms on the
// development machine) unless another migration ended moments before or
// a hierarchy is mounted with favordynmods: most of a container's start.
// A thread that moves itself (writing "0" into a "tasks" file) needs no
// such lock.
func (m *v1) ForkInto(cmd *exec.Cmd) (func() (func(), error), func(), error) {
	return m.enterThread, func() {}, nil
}

func (m *v1) enterThread() (func(), error) {
	home, err := threadHome()
	if err != nil {
		return nil, err
	}
	// Open the way back first: after the fork the thread may be in the
	// container's mount namespace, where these paths mean something else.
	var back []*os.File
	leave := func() {
		for _, f := range back {
			f.Write([]byte("0"))
			f.Close()
		}
	}
	for _, d := range m.dirs {
		path := filepath.Join(Root, d.controller, home[d.controller], "tasks")
		f, err := os.OpenFile(path, os.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			leave()
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		back = append(back, f)
	}
	for _, d := range m.dirs {
		if err := writeFile(d.path, "tasks", "0"); err != nil {
			leave()
			return nil, err
		}
	}
	return leave, nil
}

// threadHome maps each v1 controller to the calling thread's cgroup in
// it, from /proc/thread-self/cgroup ("4:memory:/user.slice").
func threadHome() (map[string]string, error) {
	data, err := os.ReadFile("/proc/thread-self/cgroup")
	if err != nil {
		return nil, err
	}
	home := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		fields := strings.SplitN(line, ":", 3)
		if len(fields) != 3 {
			continue
		}
		for _, controller := range strings.Split(fields[1], ",") {
			home[controller] = fields[2]
		}
	}
	return home, nil
}

func (m *v1) OOMKills() uint64 { return readKey(m.dir("memory"), "memory.oom_control", "oom_kill") }

func (m *v1) Stats() (Stats, error) {
	mem := m.dir("memory")
	if _, err := os.Stat(mem); err != nil {
		return Stats{}, err
	}
	limit := readUint(mem, "memory.limit_in_bytes")
	if limit >= 1<<62 { // "no limit" is the largest page-aligned number
		limit = 0
	}
	return Stats{
		MemoryUsage: readUint(mem, "memory.usage_in_bytes"),
		MemoryLimit: limit,
		CPUUsec:     readUint(m.dir("cpuacct"), "cpuacct.usage") / 1000,
		Pids:        readUint(m.dir("pids"), "pids.current"),
		PidsLimit:   readUint(m.dir("pids"), "pids.max"),
		OOMKills:    m.OOMKills(),
	}, nil
}

func (m *v1) Destroy() error {
	var firstErr error
	for _, d := range m.dirs {
		if err := removeDir(d.path, func() { killAll(d.path) }); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}
