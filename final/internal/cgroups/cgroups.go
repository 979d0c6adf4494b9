// Package cgroups puts a container's processes in a cgroup of their own,
// limits them and reads their usage. cgroup v2 (one unified tree) and v1
// (one tree per controller) sit behind one small interface; lesson 05
// explains both.
package cgroups

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Root is where the cgroup filesystems are mounted.
const Root = "/sys/fs/cgroup"

// MinPids is the smallest pids limit a container can have: the runtime's
// own init is a Go program until it execs the command, and its threads
// count against the limit.
const MinPids = 10

// Resources are a container's limits; zero means no limit.
type Resources struct {
	Memory int64   `json:"memory,omitempty"` // bytes
	CPUs   float64 `json:"cpus,omitempty"`   // CPUs' worth of time per period
	Pids   int64   `json:"pids,omitempty"`   // processes and threads
}

// Stats is a container's usage, read from its cgroup.
type Stats struct {
	MemoryUsage uint64 `json:"memoryUsage"`
	MemoryLimit uint64 `json:"memoryLimit"` // 0: none
	CPUUsec     uint64 `json:"cpuUsec"`     // CPU time used, µs
	Pids        uint64 `json:"pids"`
	PidsLimit   uint64 `json:"pidsLimit"` // 0: none
	OOMKills    uint64 `json:"oomKills"`
	// Bytes read from and written to block devices (v2's io controller;
	// not counted on v1, where HasBlockIO is false).
	BlockRead  uint64 `json:"blockRead"`
	BlockWrite uint64 `json:"blockWrite"`
	HasBlockIO bool   `json:"hasBlockIO"`
}

// Manager is one container's cgroup.
type Manager interface {
	Paths() []string
	// Set applies the spec's limits: memory (and swap), CPU quota and
	// shares, pids. What is nil is left as it is.
	Set(*specs.LinuxResources) error
	// ForkInto makes the process that cmd starts be born in the cgroup,
	// so that it never runs outside it and is never moved. On v2, step
	// is nil; on v1, step must run on the thread that forks, just before
	// the fork (nsenter.Start runs it). done releases what ForkInto holds,
	// once the process has started.
	ForkInto(cmd *exec.Cmd) (step func() (after func(), err error), done func(), err error)
	Stats() (Stats, error)
	// OOMKills is how many processes the kernel killed at the memory
	// limit: Stats().OOMKills, in one read.
	OOMKills() uint64
	// Procs lists the processes in the cgroup.
	Procs() ([]int, error)
	// Freeze stops (or thaws) every process in the cgroup, as pause and
	// resume do, and returns once the kernel has done it.
	Freeze(frozen bool) error
	Frozen() bool
	// Destroy kills any process left in the cgroup and removes it.
	Destroy() error
}

// DefaultDevices is Docker's default device allowlist: after "deny everything",
// the few harmless character devices every program expects, the
// terminals, and mknod of any node (CAP_MKNOD is dropped anyway; a node
// made in the container still cannot be opened unless allowed here).
var DefaultDevices = []specs.LinuxDeviceCgroup{
	{Allow: false, Access: "rwm"},         // a: everything else is denied
	{Allow: true, Type: "c", Access: "m"}, // c *:* m
	{Allow: true, Type: "b", Access: "m"}, // b *:* m
	char(1, 3),                            // null
	char(1, 5),                            // zero
	char(1, 7),                            // full
	char(1, 8),                            // random
	char(1, 9),                            // urandom
	char(5, 0),                            // tty
	char(5, 1),                            // console
	char(5, 2),                            // ptmx
	char(136, -1),                         // pts/N: any minor
}

// char allows all access to a character device, to all of its minors if
// minor < 0.
func char(major, minor int64) specs.LinuxDeviceCgroup {
	r := specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: &major, Access: "rwm"}
	if minor >= 0 {
		r.Minor = &minor
	}
	return r
}

// Version tells the host's layout: 2 when /sys/fs/cgroup is the unified
// hierarchy, else 1 (the legacy and the hybrid layouts).
func Version() int {
	var fs unix.Statfs_t
	if err := unix.Statfs(Root, &fs); err == nil && fs.Type == unix.CGROUP2_SUPER_MAGIC {
		return 2
	}
	return 1
}

// Open returns the manager of the cgroup parent/id, whether or not it
// exists: enough to read or destroy it from another process.
func Open(parent, id string) Manager { return OpenPath(filepath.Join(parent, id)) }

// OpenPath is Open for a path in the hierarchy, as the spec's
// linux.cgroupsPath gives it ("/default/ID"; relative is the same).
func OpenPath(path string) Manager {
	path = filepath.Clean("/" + path)
	if Version() == 2 {
		return &v2{dir: filepath.Join(Root, path)}
	}
	m := &v1{}
	for _, c := range v1Controllers {
		dir := filepath.Join(Root, c, path)
		if c == "cpuset" {
			if _, err := os.Stat(dir); err != nil {
				continue // made only for a container pinned to CPUs (New)
			}
		}
		if v1Optional[c] && !v1Mounted(c) {
			continue
		}
		m.dirs = append(m.dirs, v1Dir{c, dir})
	}
	return m
}

// RemoveParent removes the folder parent that holds the containers'
// cgroups, in each hierarchy, if no container has one left in it. It
// stays between containers otherwise, as Docker's "docker" cgroup does:
// making and removing it with each container costs about 0.2 ms on v1.
func RemoveParent(parent string) {
	if Version() == 2 {
		unix.Rmdir(filepath.Join(Root, parent))
		return
	}
	for _, c := range v1Controllers {
		unix.Rmdir(filepath.Join(Root, c, parent))
	}
}

// New creates the cgroup at path (see OpenPath) for a container with the
// resources r. On v1 it has a cpuset only if r pins it to CPUs or memory
// nodes: every hierarchy costs a folder and a thread move at each start.
func New(path string, r *specs.LinuxResources) (Manager, error) {
	m := OpenPath(path)
	if v, ok := m.(*v1); ok && r != nil && r.CPU != nil && (r.CPU.Cpus != "" || r.CPU.Mems != "") && v1Mounted("cpuset") {
		v.dirs = append(v.dirs, v1Dir{"cpuset", filepath.Join(Root, "cpuset", filepath.Clean("/"+path))})
	}
	var err error
	switch m := m.(type) {
	case *v2:
		err = m.create()
	case *v1:
		err = m.create()
	}
	if err != nil {
		m.Destroy()
		return nil, err
	}
	return m, nil
}

// Spec is the limits as the runtime spec writes them, with swap equal to
// memory (memory+swap = memory: no swap, the container is killed at its
// limit, as Docker does with -m alone).
func (r Resources) Spec() *specs.LinuxResources {
	s := &specs.LinuxResources{Devices: DefaultDevices}
	if r.Memory > 0 {
		s.Memory = &specs.LinuxMemory{Limit: &r.Memory, Swap: &r.Memory}
	}
	if r.CPUs > 0 {
		quota, period := CPUQuota(r.CPUs)
		s.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period}
	}
	if r.Pids > 0 {
		s.Pids = &specs.LinuxPids{Limit: &r.Pids}
	}
	return s
}

// Validate checks limits before anything is created.
func (r Resources) Validate(numCPU int) error {
	if r.Memory < 0 {
		return fmt.Errorf("memory limit %d: want a positive size", r.Memory)
	}
	if r.CPUs < 0 || (r.CPUs > 0 && r.CPUs*cpuPeriod < 1000) {
		return fmt.Errorf("--cpus %g: want at least 0.01", r.CPUs)
	}
	if r.CPUs > float64(numCPU) {
		return fmt.Errorf("--cpus %g: this machine has %d CPUs", r.CPUs, numCPU)
	}
	if r.Pids < 0 || (r.Pids > 0 && r.Pids < MinPids) {
		return fmt.Errorf("--pids-limit %d: want at least %d, for the runtime's own threads until the command starts", r.Pids, MinPids)
	}
	return nil
}

const cpuPeriod = 100000 // µs

// CPUQuota is a CPU limit as the scheduler takes it: quota µs of CPU time
// in each period of 100 ms.
func CPUQuota(cpus float64) (quota int64, period uint64) {
	return int64(cpus*cpuPeriod + 0.5), cpuPeriod
}

// waitFor polls until done or a second has passed: the freezer changes
// state asynchronously.
func waitFor(done func() bool) error {
	for try := 0; try < 1000; try++ {
		if done() {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	return errors.New("timed out")
}

func writeFile(dir, name, value string) error {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// value and uvalue read an optional number of the spec, 0 when absent.
func value(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func uvalue(p *uint64) uint64 {
	if p == nil {
		return 0
	}
	return *p
}

// limit writes a limit, where the spec's -1 is "max".
func limit(n int64) string {
	if n < 0 {
		return "max"
	}
	return strconv.FormatInt(n, 10)
}

// readUint reads a file holding one number, or "max".
func readUint(dir, name string) uint64 {
	data, _ := os.ReadFile(filepath.Join(dir, name))
	n, _ := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	return n
}

// readKey reads "key value" lines, as in memory.events and cpu.stat.
func readKey(dir, name, key string) uint64 {
	data, _ := os.ReadFile(filepath.Join(dir, name))
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, key+" "); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

func readProcs(dir string) ([]int, error) {
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// makeDir makes a container's cgroup folder, and its parent unless it is
// there, with prepare (if not nil) run on the parent in between. The empty
// parent may be removed at any moment (by system prune, or by another
// runtime), so it tries again if it vanished in between. A folder already
// there is no error: on v1, cpu and cpuacct may be one hierarchy.
func makeDir(dir string, prepare func(parent string) error) error {
	parent := filepath.Dir(dir)
	for try := 0; ; try++ {
		err := os.MkdirAll(parent, 0o755)
		if err == nil && prepare != nil {
			err = prepare(parent)
		}
		if err == nil {
			err = os.Mkdir(dir, 0o755)
		}
		if errors.Is(err, os.ErrExist) {
			err = nil
		}
		if err == nil || !errors.Is(err, os.ErrNotExist) || try == 3 {
			return err
		}
	}
}

// removeDir removes a cgroup folder. The kernel refuses (EBUSY) while a
// process, even a dying one, is still in it: then kill kills what is left,
// and removal is retried. A folder already gone is no error.
func removeDir(dir string, kill func()) error {
	err := unix.Rmdir(dir)
	if errors.Is(err, unix.EBUSY) {
		kill()
		err = unix.Rmdir(dir)
	}
	for try := 0; errors.Is(err, unix.EBUSY) && try < 200; try++ {
		time.Sleep(10 * time.Millisecond)
		err = unix.Rmdir(dir)
	}
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("rmdir %s: %w", dir, err)
	}
	return nil
}

// killAll sends SIGKILL to every process listed in dir until none is left.
func killAll(dir string) {
	for try := 0; try < 100; try++ {
		pids, err := readProcs(dir)
		if err != nil || len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			unix.Kill(pid, unix.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
