package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// v1Controllers are the hierarchies a container gets a folder in. cpuacct
// is often mounted together with cpu; then both paths are one folder.
var v1Controllers = []string{"memory", "cpu", "cpuacct", "pids"}

// v1 is a cgroup in the v1 layout: one folder per controller hierarchy.
type v1 struct{ dirs []v1Dir }

type v1Dir struct{ controller, path string }

func (m *v1) Version() int { return 1 }

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
		if err := os.MkdirAll(d.path, 0o755); err != nil {
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

func (m *v1) Join(pid int) error {
	for _, d := range m.dirs {
		if err := writeFile(d.path, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

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
		OOMKills:    readKey(mem, "memory.oom_control", "oom_kill"),
	}, nil
}

func (m *v1) Destroy() error {
	var firstErr error
	for _, d := range m.dirs {
		if _, err := os.Stat(d.path); errors.Is(err, os.ErrNotExist) {
			continue
		}
		killAll(d.path)
		if err := removeDir(d.path); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}
