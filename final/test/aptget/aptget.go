// Package aptget installs the Debian packages the host-side test
// harnesses need (runc and crun for the validation suite, containerd and
// docker.io for the client tests), as make bench does.
package aptget

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
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
