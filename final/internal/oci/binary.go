package oci

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// sealedCopy copies the skiff-init binary into a sealed memfd, to be run
// as /proc/self/fd/N by a process that starts among the container's own
// processes (exec, or a pod member joining a PID namespace). Run from its
// file, it would show the host's binary at /proc/PID/exe to root in the
// container, which could open it and, once no process runs it any more,
// write it: the next container's init would run the container's code as
// the host's root (runc's CVE-2019-5736). A sealed memfd cannot be
// written, and it is the only thing /proc/PID/exe shows.
func sealedCopy(path string) (*os.File, error) {
	src, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	fd, err := unix.MemfdCreate("skiff-init", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	copy := os.NewFile(uintptr(fd), "skiff-init")
	if _, err := io.Copy(copy, src); err != nil {
		copy.Close()
		return nil, fmt.Errorf("copy %s: %w", path, err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(copy.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		copy.Close()
		return nil, fmt.Errorf("seal the copy of %s: %w", path, err)
	}
	return copy, nil
}
