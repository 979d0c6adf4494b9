package clients

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"skiff/test/hostenv"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// Packages are the Debian packages that hold the clients: containerd
// (with ctr and the runc shim) and docker.io (dockerd, the docker client
// that matches it, and docker-init for --init).
var Packages = []string{"containerd", "docker.io"}

// Docker is the docker client of Debian's docker.io. Not the one first
// on the PATH: a newer client from elsewhere may speak an API version
// that Debian's dockerd does not.
const Docker = "/usr/bin/docker"

// programs are what the clients need, by the package that installs them.
var programs = map[string][]string{
	"containerd": {"containerd", "ctr", "containerd-shim-runc-v2"},
	"docker.io":  {"dockerd", Docker, "docker-init"},
}

// Install installs the clients from Debian's packages when some program
// of theirs is missing.
func Install(logf func(string, ...any)) error {
	var missing []string
	for _, pkg := range Packages {
		for _, p := range programs[pkg] {
			if _, err := exec.LookPath(p); err != nil {
				missing = append(missing, pkg)
				break
			}
		}
	}
	return hostenv.Install(logf, missing)
}

// cgroupRoots are the mount points of the cgroup hierarchies, v1 and v2.
func cgroupRoots() ([]string, error) {
	ms, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup", "cgroup2"))
	var roots []string
	for _, m := range ms {
		roots = append(roots, m.Mountpoint)
	}
	return roots, err
}

// cgroupTree lists the cgroup /parent of every hierarchy, then the
// cgroups under it, children before their parents.
func cgroupTree(parent string) ([]string, error) {
	roots, err := cgroupRoots()
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, root := range roots {
		err := filepath.WalkDir(filepath.Join(root, parent), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil // not there, or removed meanwhile
				}
				return err
			}
			if d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	slices.SortStableFunc(dirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	return dirs, nil
}

// leftCgroups names the cgroups among dirs (from cgroupTree) that are
// not the parents, by their path in the hierarchies they are in: "cgroup
// /parent/id (blkio,cpu,...)".
func leftCgroups(dirs []string, parents ...string) []string {
	where := map[string][]string{} // path -> hierarchies
	for _, dir := range dirs {
		hierarchy, path, _ := strings.Cut(strings.TrimPrefix(dir, "/sys/fs/cgroup/"), "/")
		if path = "/" + path; !slices.Contains(parents, path) {
			where[path] = append(where[path], hierarchy)
		}
	}
	var left []string
	for path, hs := range where {
		slices.Sort(hs)
		left = append(left, fmt.Sprintf("cgroup %s (%s)", path, strings.Join(hs, ",")))
	}
	slices.Sort(left)
	return left
}

// cgroupProcs lists the processes in the cgroups dirs.
func cgroupProcs(dirs []string) []int {
	var pids []int
	for _, dir := range dirs {
		data, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil && !slices.Contains(pids, pid) {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// removeCgroup kills what is left in the cgroup dir, whose children are
// gone, and removes it. A process of a frozen cgroup v1 dies only once
// thawed: a test may stop with a paused container.
func removeCgroup(dir string) error {
	os.WriteFile(filepath.Join(dir, "freezer.state"), []byte("THAWED"), 0)
	os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte("0"), 0)
	var err error
	for try := 0; try < 300; try++ {
		if err = unix.Rmdir(dir); err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			break
		}
		for _, pid := range cgroupProcs([]string{dir}) {
			unix.Kill(pid, unix.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("rmdir %s: %w", dir, err)
}

// process is a process of the host, as /proc shows it.
type process struct {
	pid  int
	args []string
}

func (p process) String() string { return fmt.Sprintf("%d (%s)", p.pid, strings.Join(p.args, " ")) }

// processes lists the host's processes whose command line matches.
func processes(match func(args []string) bool) []process {
	entries, _ := os.ReadDir("/proc")
	var ps []process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(data) == 0 {
			continue // gone, or a kernel thread
		}
		args := strings.Split(string(bytes.TrimSuffix(data, []byte{0})), "\x00")
		if match(args) {
			ps = append(ps, process{pid, args})
		}
	}
	return ps
}

// flag is the value of the flag name in args ("-address X"), or "".
func flag(args []string, name string) string {
	if i := slices.Index(args, name); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// shimSocket is where containerd 1.6's shim for container id of
// namespace ns, started by the containerd at address, listens: a folder
// shared by every containerd of the host, so only sockets known to be
// ours are removed.
func shimSocket(address, ns, id string) string {
	return fmt.Sprintf("/run/containerd/s/%x", sha256.Sum256([]byte(filepath.Join(address, ns, id))))
}

// killAndWait kills the processes and waits a little for them to go.
func killAndWait(ps []process) {
	for _, p := range ps {
		unix.Kill(p.pid, unix.SIGKILL)
	}
	for _, p := range ps {
		for try := 0; try < 200 && unix.Kill(p.pid, 0) == nil && !zombie(p.pid); try++ {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// zombie tells whether pid has exited and waits for its parent.
func zombie(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(data, ')')
	return i > 0 && bytes.HasPrefix(data[i+1:], []byte(" Z"))
}

// quote quotes s for sh.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
