// Package hostenv is what the host-side test harnesses (the validation
// suite, the client tests) share: installing the Debian packages they
// need (runc and crun, containerd and docker.io), as make bench does, and
// taking down what runtimes left mounted in their folders.
package hostenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// Install installs the packages with apt-get, or says in one line why it
// cannot: not a Debian-like host, or not root.
func Install(logf func(string, ...any), packages []string) error {
	if len(packages) == 0 {
		return nil
	}
	list := strings.Join(packages, " ")
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("%s missing, and this is not a Debian-like host: install them", list)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%s missing: run 'sudo apt-get install %s', or run as root", list, list)
	}
	logf("installing %s with apt-get", list)
	for _, args := range [][]string{
		{"update", "-qq"},
		append([]string{"install", "-y", "-qq", "--no-install-recommends"}, packages...),
	} {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get %s: %w: %s", strings.Join(args, " "), err, LastLine(string(out)))
		}
	}
	return nil
}

// LastLine is the last line of a program's output: what it says last is
// usually why it failed.
func LastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// UnmountUnder detaches every mount at or under dir in this mount
// namespace, deepest first, and returns their mount points. A runtime
// that runs a container in the host's mount namespace can leave its
// bundle's /proc, /dev and /sys mounted there.
func UnmountUnder(dir string) ([]string, error) {
	ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return nil, err
	}
	var points []string
	for _, m := range ms {
		points = append(points, m.Mountpoint)
	}
	// Mounted later, unmounted first.
	slices.SortStableFunc(points, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	var errs []error
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("umount %s: %w", p, err))
		}
	}
	return points, errors.Join(errs...)
}

// RemoveAll removes dir once nothing is mounted under it: removing a
// folder with the host's /dev or /sys still mounted inside would reach
// the host's.
func RemoveAll(dir string) error {
	if _, err := UnmountUnder(dir); err != nil {
		return err
	}
	if ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir)); err != nil || len(ms) > 0 {
		return fmt.Errorf("remove %s: still mounted (%d mounts): %v", dir, len(ms), err)
	}
	return os.RemoveAll(dir)
}
