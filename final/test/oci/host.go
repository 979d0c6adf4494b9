package oci

import (
	"bufio"
	"bytes"
	"context"
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

	"golang.org/x/sys/unix"
)

// InstallRuntimes installs runc and crun from Debian's packages when they
// are missing, as make bench does.
func InstallRuntimes(logf func(string, ...any)) error {
	var missing []string
	for _, p := range []string{"runc", "crun"} {
		if _, err := exec.LookPath(p); err != nil {
			missing = append(missing, p)
		}
	}
	return hostenv.Install(logf, missing)
}

// mount is one line of /proc/self/mountinfo.
type mount struct{ point, fstype string }

// mounts lists the mounts of this process's mount namespace, in the order
// they were made.
func mounts() ([]mount, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var ms []mount
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, fstype := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(fstype) == 0 {
			return nil, fmt.Errorf("/proc/self/mountinfo: bad line %q", sc.Text())
		}
		ms = append(ms, mount{unescape(fields[4]), fstype[0]})
	}
	return ms, sc.Err()
}

// unescape decodes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cgroupMounts returns the mount points of the cgroup v1 hierarchies and
// of the cgroup2 ones.
func cgroupMounts() (v1, v2 []string, err error) {
	ms, err := mounts()
	for _, m := range ms {
		switch m.fstype {
		case "cgroup":
			v1 = append(v1, m.point)
		case "cgroup2":
			v2 = append(v2, m.point)
		}
	}
	return v1, v2, err
}

// hideCgroup2 makes a mount namespace, kept alive by a bind mount on the
// file ns, in which the cgroup2 mounts of the hybrid layout are gone:
// crun 1.8 refuses that layout ("cgroups in hybrid mode not supported").
// It returns false, and makes nothing, on a host of another layout. The
// host's mounts are not touched; umount ns ends the namespace.
func hideCgroup2(ns string) (bool, error) {
	v1, v2, err := cgroupMounts()
	if err != nil || len(v1) == 0 || len(v2) == 0 || slices.Contains(v2, "/sys/fs/cgroup") {
		return false, err
	}
	if err := os.WriteFile(ns, nil, 0o600); err != nil {
		return false, err
	}
	args := append([]string{"--mount=" + ns, "--propagation", "private", "umount"}, v2...)
	if out, err := exec.Command("unshare", args...).CombinedOutput(); err != nil {
		unix.Unmount(ns, 0)
		return false, fmt.Errorf("unshare %s: %w: %s", strings.Join(args, " "), err, hostenv.LastLine(string(out)))
	}
	return true, nil
}

// cgroupDirs lists every cgroup of every hierarchy, as folders.
func cgroupDirs() (map[string]bool, error) {
	v1, v2, err := cgroupMounts()
	if err != nil {
		return nil, err
	}
	dirs := map[string]bool{}
	for _, root := range append(v1, v2...) {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil // removed meanwhile
				}
				return err
			}
			if d.IsDir() && path != root {
				dirs[path] = true
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return dirs, nil
}

// removeCgroups removes the cgroups that are not in before and whose path
// has a component in names: the cgroups the suite's containers left. Their
// processes are thawed and killed first. It returns what it removed, by
// path inside the hierarchy, with the hierarchies it was found in.
func removeCgroups(before map[string]bool, names map[string]bool) ([]string, error) {
	after, err := cgroupDirs()
	if err != nil {
		return nil, err
	}
	var left []string
	for dir := range after {
		if !before[dir] && slices.ContainsFunc(strings.Split(dir, "/"), func(c string) bool { return names[c] }) {
			left = append(left, dir)
		}
	}
	// Children first.
	slices.SortFunc(left, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	where := map[string][]string{} // path in its hierarchy -> hierarchies
	var errs []error
	for _, dir := range left {
		if err := removeCgroup(dir); err != nil {
			errs = append(errs, err)
		}
		hierarchy, path := splitCgroup(dir)
		where[path] = append(where[path], hierarchy)
	}
	var removed []string
	for path, hs := range where {
		slices.Sort(hs)
		removed = append(removed, fmt.Sprintf("cgroup %s (%s)", path, strings.Join(hs, ",")))
	}
	slices.Sort(removed)
	return removed, errors.Join(errs...)
}

// splitCgroup splits /sys/fs/cgroup/memory/a/b into "memory" and "/a/b".
func splitCgroup(dir string) (hierarchy, path string) {
	rest, _ := strings.CutPrefix(dir, "/sys/fs/cgroup/")
	hierarchy, path, _ = strings.Cut(rest, "/")
	return hierarchy, "/" + path
}

// removeCgroup kills what is left in the cgroup dir and removes it. A
// process in a frozen cgroup v1 dies only once thawed: a program may leave
// a paused container.
func removeCgroup(dir string) error {
	os.WriteFile(filepath.Join(dir, "freezer.state"), []byte("THAWED"), 0)
	os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte("0"), 0)
	var err error
	for try := 0; try < 200; try++ {
		if err = unix.Rmdir(dir); err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			break
		}
		procs, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		for _, f := range strings.Fields(string(procs)) {
			if pid, err := strconv.Atoi(f); err == nil {
				unix.Kill(pid, unix.SIGKILL)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("rmdir %s: %w", dir, err)
}

// killGroup kills what is left of the process group pgid and returns it,
// as "PID(COMMAND)".
func killGroup(pgid int) []string {
	var left []string
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, stat := range stats {
		data, err := os.ReadFile(stat)
		// PID (COMM) STATE PPID PGRP ...; COMM may hold spaces and parentheses.
		i := bytes.LastIndexByte(data, ')')
		if err != nil || i < 0 {
			continue // gone meanwhile
		}
		f := strings.Fields(string(data[i+1:]))
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
			left = append(left, fmt.Sprintf("%s%s", filepath.Base(filepath.Dir(stat)), data[bytes.IndexByte(data, '('):i+1]))
		}
	}
	if len(left) > 0 {
		unix.Kill(-pgid, unix.SIGKILL)
		for try := 0; try < 100 && unix.Kill(-pgid, 0) == nil; try++ {
			time.Sleep(10 * time.Millisecond)
		}
	}
	return left
}

// runQuiet runs a command for cleanup, with a timeout; its error is one line.
func runQuiet(timeout time.Duration, env []string, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, hostenv.LastLine(string(out)))
	}
	return nil
}
