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

// v1Controllers are the hierarchies a container gets a folder in. cpuacct
// is often mounted together with cpu; then both paths are one folder.
// devices holds the container's device allowlist (package devices),
// freezer lets pause stop its processes, cpuset pins it to CPUs (only
// when asked: see New).
var v1Controllers = []string{"memory", "cpu", "cpuacct", "cpuset", "pids", "devices", "freezer"}

// v1Optional are the hierarchies a host may lack: without them, only
// pause (freezer) and linux.resources.cpu.cpus (cpuset) fail.
var v1Optional = map[string]bool{"cpuset": true, "freezer": true}

// v1Mounted tells whether a controller's hierarchy is mounted.
func v1Mounted(controller string) bool {
	var fs unix.Statfs_t
	err := unix.Statfs(filepath.Join(Root, controller), &fs)
	return err == nil && fs.Type == unix.CGROUP_SUPER_MAGIC
}

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
		hierarchy := filepath.Join(Root, d.controller)
		if !v1Mounted(d.controller) {
			return fmt.Errorf("cgroup v1: no %s hierarchy is mounted at %s", d.controller, hierarchy)
		}
		if err := makeDir(d.path, nil); err != nil {
			return fmt.Errorf("mkdir %s: %w", d.path, err)
		}
		if d.controller == "cpuset" {
			if err := inheritCpuset(hierarchy, d.path); err != nil {
				return err
			}
		}
	}
	return nil
}

// inheritCpuset gives each new folder on the way to dir its parent's
// CPUs and memory nodes: a v1 cpuset starts empty, and no process can
// join an empty one.
func inheritCpuset(hierarchy, dir string) error {
	parent := hierarchy
	rel, _ := filepath.Rel(hierarchy, dir)
	for _, part := range strings.Split(rel, "/") {
		child := filepath.Join(parent, part)
		for _, file := range []string{"cpuset.cpus", "cpuset.mems"} {
			mine, _ := os.ReadFile(filepath.Join(child, file))
			if strings.TrimSpace(string(mine)) != "" {
				continue
			}
			theirs, err := os.ReadFile(filepath.Join(parent, file))
			if err != nil {
				return err
			}
			if err := writeFile(child, file, strings.TrimSpace(string(theirs))); err != nil {
				return err
			}
		}
		parent = child
	}
	return nil
}

func (m *v1) Set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	var files [][3]string // controller, file, value
	if mem := r.Memory; mem != nil {
		limit := [3]string{"memory", "memory.limit_in_bytes", ""}
		memsw := [3]string{"memory", "memory.memsw.limit_in_bytes", ""} // memory+swap; the kernel may not account swap
		if mem.Limit != nil {
			limit[2] = strconv.FormatInt(*mem.Limit, 10)
		}
		if mem.Swap != nil {
			memsw[2] = strconv.FormatInt(*mem.Swap, 10)
		}
		// memory+swap may never be below memory: raising both (update),
		// memsw goes first.
		order := [][3]string{limit, memsw}
		if mem.Limit != nil && mem.Swap != nil && uint64(*mem.Limit) > readUint(m.dir("memory"), "memory.limit_in_bytes") {
			order = [][3]string{memsw, limit}
		}
		for _, f := range order {
			if f[2] != "" {
				files = append(files, f)
			}
		}
		if mem.Reservation != nil {
			files = append(files, [3]string{"memory", "memory.soft_limit_in_bytes", strconv.FormatInt(*mem.Reservation, 10)})
		}
		if mem.Swappiness != nil {
			files = append(files, [3]string{"memory", "memory.swappiness", strconv.FormatUint(*mem.Swappiness, 10)})
		}
		if mem.Kernel != nil { //nolint:staticcheck // deprecated, and a no-op since Linux 5.16, but still in specs
			files = append(files, [3]string{"memory", "memory.kmem.limit_in_bytes", strconv.FormatInt(*mem.Kernel, 10)})
		}
		if mem.KernelTCP != nil {
			files = append(files, [3]string{"memory", "memory.kmem.tcp.limit_in_bytes", strconv.FormatInt(*mem.KernelTCP, 10)})
		}
		if mem.DisableOOMKiller != nil && *mem.DisableOOMKiller {
			files = append(files, [3]string{"memory", "memory.oom_control", "1"})
		}
	}
	if cpu := r.CPU; cpu != nil {
		if period := uvalue(cpu.Period); period != 0 { // 0: not given (see v2's Set)
			files = append(files, [3]string{"cpu", "cpu.cfs_period_us", strconv.FormatUint(period, 10)})
		}
		if quota := value(cpu.Quota); quota != 0 {
			files = append(files, [3]string{"cpu", "cpu.cfs_quota_us", strconv.FormatInt(quota, 10)})
		}
		if cpu.Shares != nil {
			files = append(files, [3]string{"cpu", "cpu.shares", strconv.FormatUint(*cpu.Shares, 10)})
		}
		if cpu.RealtimePeriod != nil {
			files = append(files, [3]string{"cpu", "cpu.rt_period_us", strconv.FormatUint(*cpu.RealtimePeriod, 10)})
		}
		if cpu.RealtimeRuntime != nil {
			files = append(files, [3]string{"cpu", "cpu.rt_runtime_us", strconv.FormatInt(*cpu.RealtimeRuntime, 10)})
		}
		if cpu.Cpus != "" {
			files = append(files, [3]string{"cpuset", "cpuset.cpus", cpu.Cpus})
		}
		if cpu.Mems != "" {
			files = append(files, [3]string{"cpuset", "cpuset.mems", cpu.Mems})
		}
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		files = append(files, [3]string{"pids", "pids.max", limit(*r.Pids.Limit)})
	}
	for _, f := range files {
		if m.dir(f[0]) == "" {
			return fmt.Errorf("cgroup v1: no %s hierarchy is mounted at %s, for %s", f[0], filepath.Join(Root, f[0]), f[1])
		}
		err := writeFile(m.dir(f[0]), f[1], f[2])
		if err != nil && !(f[1] == "memory.memsw.limit_in_bytes" && errors.Is(err, os.ErrNotExist)) {
			return err
		}
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

func (m *v1) Procs() ([]int, error) { return readProcs(m.dir("pids")) }

// Freeze writes freezer.state and waits until it reads back so.
func (m *v1) Freeze(frozen bool) error {
	if m.dir("freezer") == "" {
		return fmt.Errorf("cgroup v1: no freezer hierarchy is mounted at %s: pause needs one", filepath.Join(Root, "freezer"))
	}
	state := map[bool]string{true: "FROZEN", false: "THAWED"}[frozen]
	if err := writeFile(m.dir("freezer"), "freezer.state", state); err != nil {
		return err
	}
	// Thawed, the processes may die and the cgroup go at once (a kill of
	// a paused container): then there is no state left to read.
	done := func() bool {
		now := m.freezerState()
		return now == state || (!frozen && now != "FROZEN" && now != "FREEZING")
	}
	if err := waitFor(done); err != nil {
		return fmt.Errorf("freeze %s: %w", m.dir("freezer"), err)
	}
	return nil
}

func (m *v1) Frozen() bool { return m.freezerState() == "FROZEN" }

func (m *v1) freezerState() string {
	if m.dir("freezer") == "" {
		return ""
	}
	data, _ := os.ReadFile(filepath.Join(m.dir("freezer"), "freezer.state"))
	return strings.TrimSpace(string(data))
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
	if m.Frozen() { // a frozen process cannot die of SIGKILL on v1
		m.Freeze(false)
	}
	var firstErr error
	for _, d := range m.dirs {
		if err := removeDir(d.path, func() { killAll(d.path) }); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}
