package cgroups

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// v2 is a cgroup in the unified hierarchy: one folder, every controller.
type v2 struct{ dir string }

func (m *v2) Paths() []string { return []string{m.dir} }

// create hands the controllers down from the parent, then makes the
// container's folder.
func (m *v2) create() error {
	err := makeDir(m.dir, func(parent string) error {
		return writeFile(parent, "cgroup.subtree_control", "+memory +cpu +pids")
	})
	if errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("%w: %s holds processes itself (the no-internal-process rule)", err, filepath.Dir(m.dir))
	}
	return err
}

func (m *v2) Set(r Resources) error {
	if r.Memory > 0 {
		if err := writeFile(m.dir, "memory.max", strconv.FormatInt(r.Memory, 10)); err != nil {
			return err
		}
		// OOM at the limit rather than swap past it; no file, no swap accounting.
		if err := writeFile(m.dir, "memory.swap.max", "0"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if r.CPUs > 0 {
		if err := writeFile(m.dir, "cpu.max", cpuQuota(r.CPUs)+" "+strconv.Itoa(cpuPeriod)); err != nil {
			return err
		}
	}
	if r.Pids > 0 {
		return writeFile(m.dir, "pids.max", strconv.FormatInt(r.Pids, 10))
	}
	return nil
}

// ForkInto uses clone3's CLONE_INTO_CGROUP (Linux 5.7): the kernel
// places the child in the folder cmd holds open as it creates it.
func (m *v2) ForkInto(cmd *exec.Cmd) (func() (func(), error), func(), error) {
	dir, err := os.OpenFile(m.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", m.dir, err)
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &unix.SysProcAttr{}
	}
	cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(dir.Fd())
	return nil, func() { dir.Close() }, nil
}

func (m *v2) OOMKills() uint64 { return readKey(m.dir, "memory.events", "oom_kill") }

func (m *v2) Stats() (Stats, error) {
	if _, err := os.Stat(m.dir); err != nil {
		return Stats{}, err
	}
	return Stats{
		MemoryUsage: readUint(m.dir, "memory.current"),
		MemoryLimit: readUint(m.dir, "memory.max"),
		CPUUsec:     readKey(m.dir, "cpu.stat", "usage_usec"),
		Pids:        readUint(m.dir, "pids.current"),
		PidsLimit:   readUint(m.dir, "pids.max"),
		OOMKills:    m.OOMKills(),
	}, nil
}

// Destroy kills what is left (cgroup.kill, Linux 5.14, in one write) and
// removes the folder.
func (m *v2) Destroy() error {
	return removeDir(m.dir, func() {
		if writeFile(m.dir, "cgroup.kill", "1") != nil {
			killAll(m.dir)
		}
	})
}
