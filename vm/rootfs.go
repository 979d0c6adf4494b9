package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// rootfsFiles are the few text files a root filesystem needs so that the
// usual tools (id, ls -l, ps) can name users and groups.
var rootfsFiles = map[string]string{
	"etc/passwd":     "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
	"etc/group":      "root:x:0:\nnogroup:x:65534:\n",
	"etc/os-release": "NAME=\"skiff busybox rootfs\"\nID=busybox\nPRETTY_NAME=\"busybox rootfs for containers from scratch\"\n",
	"etc/profile":    "export PS1='[container] \\w # '\n",
}

// rootfsMarker marks a folder that buildRootfs may replace.
const rootfsMarker = ".vm-rootfs"

var rootfsDirs = []string{"bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "root", "home", "var", "run", "mnt"}

// buildRootfs makes a small root filesystem in dir from the static busybox:
// the binary, one symlink per applet, and a few files in /etc. It needs no
// root privileges. The folder is built beside dir and renamed into place, so
// an interrupted build never leaves half a rootfs. An existing dir is only
// replaced if this function built it.
func buildRootfs(busybox, dir string) error {
	if _, err := os.Stat(dir); err == nil {
		if _, err := os.Stat(filepath.Join(dir, rootfsMarker)); err != nil {
			return fmt.Errorf("%s exists and was not built by 'vm rootfs': remove it or choose another folder", dir)
		}
	}
	step("building the busybox root filesystem in %s", dir)
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	for _, d := range rootfsDirs {
		if err := os.MkdirAll(filepath.Join(tmp, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(tmp, "tmp"), 0o1777); err != nil {
		return err
	}
	if err := copyFile(busybox, filepath.Join(tmp, "bin", "busybox"), 0o755); err != nil {
		return err
	}
	applets, err := exec.Command(busybox, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("%s --list-full: %w", busybox, err)
	}
	for _, applet := range strings.Fields(string(applets)) {
		if applet == "bin/busybox" { // a link to itself would be a loop
			continue
		}
		if err := os.Symlink("/bin/busybox", filepath.Join(tmp, applet)); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, rootfsMarker), nil, 0o644); err != nil {
		return err
	}
	for name, content := range rootfsFiles {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	os.RemoveAll(dir)
	return os.Rename(tmp, dir)
}

func copyFile(src, dst string, mode os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, mode)
}
