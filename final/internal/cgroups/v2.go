package cgroups

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// v2 is a cgroup in the unified hierarchy: one folder, every controller.
type v2 struct{ dir string }

func (m *v2) Paths() []string { return []string{m.dir} }

// create hands the controllers down from the parent, then makes the
// container's folder.
func (m *v2) create() error {
	err := makeDir(m.dir, func(parent string) error {
		if err := writeFile(parent, "cgroup.subtree_control", "+memory +cpu +pids"); err != nil {
			return err
		}
		writeFile(parent, "cgroup.subtree_control", "+cpuset") // for linux.resources.cpu.cpus, if the kernel has it
		writeFile(parent, "cgroup.subtree_control", "+io")     // for stats' block I/O, if the kernel has it
		return nil
	})
	if errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("%w: %s holds processes itself (the no-internal-process rule)", err, filepath.Dir(m.dir))
	}
	return err
}

func (m *v2) Set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	var files [][2]string
	if mem := r.Memory; mem != nil {
		if mem.Limit != nil {
			files = append(files, [2]string{"memory.max", limit(*mem.Limit)})
		}
		if mem.Reservation != nil {
			files = append(files, [2]string{"memory.low", limit(*mem.Reservation)})
		}
		// v2 counts swap alone; the spec, like v1, memory+swap.
		if mem.Swap != nil && mem.Limit != nil && *mem.Swap >= 0 && *mem.Limit >= 0 {
			files = append(files, [2]string{"memory.swap.max", strconv.FormatInt(*mem.Swap-*mem.Limit, 10)})
		} else if mem.Swap != nil && *mem.Swap < 0 {
			files = append(files, [2]string{"memory.swap.max", "max"})
		}
	}
	if cpu := r.CPU; cpu != nil {
		// 0 is "not given", as runc reads it: docker update sends a period
		// and a quota of 0 when it changes only the memory.
		quota, period := value(cpu.Quota), uvalue(cpu.Period)
		if quota != 0 || period != 0 {
			max := "max"
			if quota > 0 {
				max = strconv.FormatInt(quota, 10)
			}
			if period != 0 {
				max += " " + strconv.FormatUint(period, 10)
			}
			files = append(files, [2]string{"cpu.max", max}) // without a period, the period stays
		}
		if cpu.Cpus != "" {
			files = append(files, [2]string{"cpuset.cpus", cpu.Cpus})
		}
		if cpu.Mems != "" {
			files = append(files, [2]string{"cpuset.mems", cpu.Mems})
		}
		if cpu.Shares != nil && *cpu.Shares > 0 {
			// runc's conversion of shares (2..262144) to weight (1..10000).
			weight := 1 + ((*cpu.Shares-2)*9999)/262142
			files = append(files, [2]string{"cpu.weight", strconv.FormatUint(weight, 10)})
		}
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		files = append(files, [2]string{"pids.max", limit(*r.Pids.Limit)})
	}
	for _, f := range files {
		err := writeFile(m.dir, f[0], f[1])
		if err != nil && !(f[0] == "memory.swap.max" && errors.Is(err, os.ErrNotExist)) { // no swap accounting: no swap
			return err
		}
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

func (m *v2) Procs() ([]int, error) { return readProcs(m.dir) }

// Freeze writes cgroup.freeze and waits for cgroup.events to say so.
func (m *v2) Freeze(frozen bool) error {
	value := map[bool]string{true: "1", false: "0"}[frozen]
	if err := writeFile(m.dir, "cgroup.freeze", value); err != nil {
		return err
	}
	if err := waitFor(func() bool { return m.Frozen() == frozen }); err != nil {
		return fmt.Errorf("freeze %s: %w", m.dir, err)
	}
	return nil
}

func (m *v2) Frozen() bool { return readKey(m.dir, "cgroup.events", "frozen") == 1 }

func (m *v2) OOMKills() uint64 { return readKey(m.dir, "memory.events", "oom_kill") }

func (m *v2) Stats() (Stats, error) {
	if _, err := os.Stat(m.dir); err != nil {
		return Stats{}, err
	}
	s := Stats{
		MemoryUsage: readUint(m.dir, "memory.current"),
		MemoryLimit: readUint(m.dir, "memory.max"),
		CPUUsec:     readKey(m.dir, "cpu.stat", "usage_usec"),
		Pids:        readUint(m.dir, "pids.current"),
		PidsLimit:   readUint(m.dir, "pids.max"),
		OOMKills:    m.OOMKills(),
	}
	s.BlockRead, s.BlockWrite, s.HasBlockIO = blockIO(m.dir)
	return s, nil
}

// blockIO sums io.stat's rbytes and wbytes over the devices; the file is
// there only when the parent gives its children the io controller.
func blockIO(dir string) (read, written uint64, ok bool) {
	data, err := os.ReadFile(filepath.Join(dir, "io.stat"))
	if err != nil {
		return 0, 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		for _, field := range strings.Fields(line) {
			key, value, _ := strings.Cut(field, "=")
			n, _ := strconv.ParseUint(value, 10, 64)
			switch key {
			case "rbytes":
				read += n
			case "wbytes":
				written += n
			}
		}
	}
	return read, written, true
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
