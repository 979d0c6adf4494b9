package main

// cgroups are just files. A cgroup is a folder in the cgroup filesystem, a
// limit is a file in that folder, and a process joins the cgroup when its
// PID is written into the folder's cgroup.procs. No library needed.
//
// cgroup v2 has one tree, with every controller in each folder:
//
//	/sys/fs/cgroup/containers-from-scratch/ID/{memory.max,cpu.max,pids.max,cgroup.procs}
//
// cgroup v1 has one tree per controller:
//
//	/sys/fs/cgroup/memory/containers-from-scratch/ID/{memory.limit_in_bytes,cgroup.procs}
//	/sys/fs/cgroup/cpu/containers-from-scratch/ID/{cpu.cfs_quota_us,cpu.cfs_period_us,cgroup.procs}
//	/sys/fs/cgroup/pids/containers-from-scratch/ID/{pids.max,cgroup.procs}

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const (
	cgroupRoot   = "/sys/fs/cgroup"
	cgroupParent = "containers-from-scratch" // holds one cgroup per container
	cpuPeriod    = 100000                    // µs: CFS hands out the quota per 100 ms period
	minPids      = 10
)

// v1Controllers are the v1 hierarchies the container gets a folder in.
var v1Controllers = []string{"memory", "cpu", "pids"}

// limits are the container's resource limits; zero means no limit.
type limits struct {
	memory int64   // bytes
	cpus   float64 // CPUs' worth of time per period
	pids   int64   // processes and threads
}

// parseLimits checks the --memory, --cpus and --pids flags.
func parseLimits(memory string, cpus float64, pids int64) (limits, error) {
	var l limits
	if memory != "" {
		bytes, err := parseSize(memory)
		if err != nil {
			return l, fmt.Errorf("--memory %q: %w", memory, err)
		}
		l.memory = bytes
	}
	if cpus < 0 || (cpus > 0 && cpus*cpuPeriod < 1000) {
		return l, fmt.Errorf("--cpus %g: want at least 0.01", cpus)
	}
	if n := runtime.NumCPU(); cpus > float64(n) {
		return l, fmt.Errorf("--cpus %g: this machine has %d CPUs", cpus, n)
	}
	l.cpus = cpus
	if pids < 0 || (pids > 0 && pids < minPids) {
		// The child joins the cgroup while it is still a Go program, whose
		// runtime may start a thread at any moment until it execs COMMAND.
		return l, fmt.Errorf("--pids %d: want at least %d, for the runtime's own threads until COMMAND starts", pids, minPids)
	}
	l.pids = pids
	return l, nil
}

var sizePattern = regexp.MustCompile(`^(?i)(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$`)

// parseSize reads sizes as Docker writes them: 512k, 64M, 1.5g, 1024.
func parseSize(s string) (int64, error) {
	m := sizePattern.FindStringSubmatch(s)
	if m == nil {
		return 0, errors.New("want a size such as 64M, 512k or 1G")
	}
	n, _ := strconv.ParseFloat(m[1], 64)
	bytes := n
	if m[2] != "" {
		bytes *= math.Pow(1024, float64(strings.Index("kmgt", strings.ToLower(m[2]))+1))
	}
	if bytes < 1 || bytes > math.MaxInt64/2 {
		return 0, errors.New("want a size between 1 byte and a few exabytes")
	}
	return int64(bytes), nil
}

// cgroupVersion tells the layout of this host: 2 when /sys/fs/cgroup is the
// unified hierarchy, else 1 (the "legacy" layout, or the "hybrid" one with
// v1 controllers plus an empty cgroup2 tree at /sys/fs/cgroup/unified).
func cgroupVersion() int {
	var fs unix.Statfs_t
	if err := unix.Statfs(cgroupRoot, &fs); err == nil && fs.Type == unix.CGROUP2_SUPER_MAGIC {
		return 2
	}
	return 1
}

func cgroupVersionName() string { return "v" + strconv.Itoa(cgroupVersion()) }

// limitFile is one value to write into one file of the cgroup. On v1 the
// file name starts with its controller's hierarchy: "memory/...".
type limitFile struct{ name, value string }

// limitFiles translates the limits into the files of cgroup v2 or v1.
//
//exercise:05 list the files and values for the limits: memory.max (and memory.swap.max 0), cpu.max "QUOTA
//exercise:05 PERIOD" and pids.max on v2; memory/memory.limit_in_bytes, cpu/cpu.cfs_period_us and
//exercise:05 cpu/cpu.cfs_quota_us, pids/pids.max on v1; see "v1 and v2"
func limitFiles(version int, l limits) []limitFile {
	var files []limitFile
	quota := strconv.Itoa(int(math.Round(l.cpus * cpuPeriod)))
	period := strconv.Itoa(cpuPeriod)
	if version == 2 {
		if l.memory > 0 {
			files = append(files, limitFile{"memory.max", strconv.FormatInt(l.memory, 10)},
				limitFile{"memory.swap.max", "0"}) // OOM at the limit instead of swapping
		}
		if l.cpus > 0 {
			files = append(files, limitFile{"cpu.max", quota + " " + period})
		}
		if l.pids > 0 {
			files = append(files, limitFile{"pids.max", strconv.FormatInt(l.pids, 10)})
		}
		return files
	}
	if l.memory > 0 {
		files = append(files, limitFile{"memory/memory.limit_in_bytes", strconv.FormatInt(l.memory, 10)})
	}
	if l.cpus > 0 {
		files = append(files, limitFile{"cpu/cpu.cfs_period_us", period}, limitFile{"cpu/cpu.cfs_quota_us", quota})
	}
	if l.pids > 0 {
		files = append(files, limitFile{"pids/pids.max", strconv.FormatInt(l.pids, 10)})
	}
	return files
}

// cgroup is one container's cgroup: one folder on v2, one folder per
// controller on v1.
type cgroup struct {
	version int
	dirs    []cgroupDir
	verbose bool
}

type cgroupDir struct{ controller, path string } // controller is "" on v2

// newCgroup creates the container's cgroup and writes its limits. On any
// error it removes what it created.
func newCgroup(id string, l limits, verbose bool) (*cgroup, error) {
	cg := &cgroup{version: cgroupVersion(), verbose: verbose}
	if cg.version == 2 {
		cg.dirs = []cgroupDir{{"", filepath.Join(cgroupRoot, cgroupParent, id)}}
	} else {
		for _, c := range v1Controllers {
			if err := checkV1Hierarchy(c); err != nil {
				return nil, err
			}
			cg.dirs = append(cg.dirs, cgroupDir{c, filepath.Join(cgroupRoot, c, cgroupParent, id)})
		}
	}
	for _, dir := range cg.dirs {
		cg.logf("mkdir %s", dir.path)
		if err := makeCgroupDir(cg.version, dir.path); err != nil {
			cg.remove()
			return nil, err
		}
	}
	for _, f := range limitFiles(cg.version, l) {
		err := cg.write(f.name, f.value)
		if errors.Is(err, os.ErrNotExist) && f.name == "memory.swap.max" {
			continue // no swap accounting on this kernel: nothing to limit
		}
		if err != nil {
			cg.remove()
			return nil, err
		}
	}
	return cg, nil
}

// checkV1Hierarchy makes sure a v1 controller's hierarchy is mounted:
// otherwise /sys/fs/cgroup/CONTROLLER would be a plain folder of a tmpfs,
// and the limits plain files that limit nothing.
func checkV1Hierarchy(controller string) error {
	var fs unix.Statfs_t
	dir := filepath.Join(cgroupRoot, controller)
	if err := unix.Statfs(dir, &fs); err != nil || fs.Type != unix.CGROUP_SUPER_MAGIC {
		return fmt.Errorf("cgroup v1: no %s hierarchy is mounted at %s", controller, dir)
	}
	return nil
}

// makeCgroupDir creates a container's cgroup folder. On v2 the parent
// must hand its controllers down first; another runtime may remove the
// parent at any moment (when its own container was the last), so try again
// if it vanished in between.
func makeCgroupDir(version int, dir string) error {
	for try := 0; ; try++ {
		var err error
		if version == 2 {
			err = enableControllers()
		}
		if err == nil {
			err = os.Mkdir(dir, 0o755)
			if version == 1 && errors.Is(err, os.ErrNotExist) {
				err = os.MkdirAll(dir, 0o755) // v1 parents need no set-up
			}
		}
		if err == nil || !errors.Is(err, os.ErrNotExist) || try == 3 {
			return err
		}
	}
}

// enableControllers turns on the memory, cpu and pids controllers for the
// cgroups below the parent. v2's "no internal processes" rule: a cgroup
// that hands controllers to its children must itself hold no process, so
// containers are the leaves and the parent stays empty.
func enableControllers() error {
	parent := filepath.Join(cgroupRoot, cgroupParent)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("mkdir %s: %w", parent, err)
	}
	control := filepath.Join(parent, "cgroup.subtree_control")
	err := os.WriteFile(control, []byte("+memory +cpu +pids"), 0o644)
	switch {
	case errors.Is(err, unix.EBUSY):
		return fmt.Errorf("%w: %s holds processes itself (the no-internal-process rule)", err, parent)
	case err != nil:
		return fmt.Errorf("%w (are memory, cpu and pids in %s/cgroup.subtree_control?)", err, cgroupRoot)
	}
	return nil
}

// path is the file name in the container's folder for its controller.
func (cg *cgroup) path(name string) string {
	controller, file := "", name
	if cg.version == 1 {
		controller, file, _ = strings.Cut(name, "/")
	}
	for _, dir := range cg.dirs {
		if dir.controller == controller {
			return filepath.Join(dir.path, file)
		}
	}
	return "" // not reached: limitFiles names only v1Controllers
}

func (cg *cgroup) write(name, value string) error {
	path := cg.path(name)
	cg.logf("echo %s > %s", value, path)
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// join moves a process, with all its threads, into the cgroup.
//
//exercise:05 write pid into cgroup.procs in each of the cgroup's folders; see "Join before the command runs"
func (cg *cgroup) join(pid int) error {
	for _, dir := range cg.dirs {
		if err := cg.write(filepath.Join(dir.controller, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// reportOOM says when the kernel killed a process for going over the
// memory limit: the container's exit status alone (137) does not tell.
func (cg *cgroup) reportOOM() {
	name := "memory.events" // v2: "oom_kill N"
	if cg.version == 1 {
		name = "memory/memory.oom_control"
	}
	data, err := os.ReadFile(cg.path(name))
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(data), "\n") {
		if n, ok := strings.CutPrefix(line, "oom_kill "); ok && n != "0" {
			fmt.Fprintf(os.Stderr, "%s: the kernel OOM-killed %s process(es) in the container (%s: oom_kill %s)\n",
				filepath.Base(os.Args[0]), n, filepath.Base(name), n)
		}
	}
}

// remove deletes the cgroup's folders. A folder can only go once no
// process is left in it: the container's other processes die with its PID
// 1, but may take a moment to be gone.
func (cg *cgroup) remove() {
	for _, dir := range cg.dirs {
		err := unix.Rmdir(dir.path)
		for try := 0; errors.Is(err, unix.EBUSY) && try < 100; try++ {
			time.Sleep(10 * time.Millisecond)
			err = unix.Rmdir(dir.path)
		}
		if err == nil {
			cg.logf("rmdir %s", dir.path)
		}
		unix.Rmdir(filepath.Dir(dir.path)) // the parent too, unless other containers are in it
	}
}

func (cg *cgroup) logf(format string, args ...any) {
	if cg.verbose {
		fmt.Fprintf(os.Stderr, "cgroup v%d: "+format+"\n", append([]any{cg.version}, args...)...)
	}
}
