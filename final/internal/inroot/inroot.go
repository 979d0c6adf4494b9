// Package inroot reads and writes the files of a container from the
// host, as `skiff cp` and volumes do, without ever leaving the
// container's root.
//
// The container's root is hostile. It may hold "x -> /etc" or
// "x -> ../../../../etc", and a path such as /x/shadow, resolved by the
// host's kernel from the host's root, would reach the host's
// /etc/shadow. Checking each component first and then using the path
// is not enough either: a running container can swap a folder for a
// symlink between the check and the use. So every path is resolved by
// the kernel from a descriptor of the container's root, with openat2(2)
// and RESOLVE_IN_ROOT (Linux 5.6): the descriptor is "/" for the lookup,
// absolute symlinks and ".." stop there, as they would inside the
// container, and the lookup fails rather than finish outside if a rename
// races it. Then files are created and changed through descriptors of
// the folders found, never by a path from the host's root.
package inroot

import (
	"errors"
	"fmt"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// resolveInRoot is how every path is resolved: inside the root, and
// without /proc's magic links, which would jump anywhere.
const resolveInRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// maxRetries bounds the retries of a lookup that a concurrent rename
// made fail (EAGAIN): a container renaming in a loop must not keep the
// host's skiff busy forever.
const maxRetries = 128

// Open opens path, resolved inside root, with flags (O_CLOEXEC added).
// Symlinks on the way, the last one too unless flags has O_NOFOLLOW,
// are followed as the container would follow them.
func Open(root *os.File, p string, flags int) (*os.File, error) {
	fd, err := openat2(int(root.Fd()), Clean(p), flags, resolveInRoot)
	if err != nil {
		return nil, &os.PathError{Op: "openat2", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), p), nil
}

func openat2(dirfd int, p string, flags int, resolve uint64) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: resolve}
	for range maxRetries {
		fd, err := unix.Openat2(dirfd, p, &how)
		if err != unix.EAGAIN && err != unix.EINTR {
			return fd, err
		}
	}
	return -1, unix.EAGAIN
}

// Clean makes p an absolute, clean path, as the container sees it.
func Clean(p string) string { return path.Clean("/" + p) }

// OpenParent opens the folder that holds p inside root and returns it
// with p's last name, which is not followed: "." for the root itself.
func OpenParent(root *os.File, p string) (*os.File, string, error) {
	clean := Clean(p)
	if clean == "/" {
		dir, err := Open(root, "/", unix.O_RDONLY|unix.O_DIRECTORY)
		return dir, ".", err
	}
	parent, base := path.Split(clean)
	dir, err := Open(root, parent, unix.O_RDONLY|unix.O_DIRECTORY)
	return dir, base, err
}

// Lstat is lstat(2) of p inside root: its last name is not followed.
func Lstat(root *os.File, p string) (unix.Stat_t, error) {
	return stat(root, p, unix.O_PATH|unix.O_NOFOLLOW)
}

// Stat is stat(2) of p inside root: symlinks are followed, inside.
func Stat(root *os.File, p string) (unix.Stat_t, error) { return stat(root, p, unix.O_PATH) }

func stat(root *os.File, p string, flags int) (unix.Stat_t, error) {
	var st unix.Stat_t
	f, err := Open(root, p, flags)
	if err != nil {
		return st, err
	}
	defer f.Close()
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return st, &os.PathError{Op: "fstat", Path: p, Err: err}
	}
	return st, nil
}

// maxLinks is how many symlinks FollowLinks follows, as the kernel's
// MAXSYMLINKS.
const maxLinks = 40

// FollowLinks returns p with its last name followed while it is a
// symlink, inside root: what `cp -L` copies. Each link is read through
// a descriptor, and its target is again a path inside root.
func FollowLinks(root *os.File, p string) (string, error) {
	p = Clean(p)
	for range maxLinks {
		dir, base, err := OpenParent(root, p)
		if err != nil {
			return "", err
		}
		target, err := readlinkat(dir, base)
		dir.Close()
		if errors.Is(err, unix.EINVAL) { // not a symlink
			return p, nil
		}
		if err != nil {
			return "", &os.PathError{Op: "readlinkat", Path: p, Err: err}
		}
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(p), target)
		}
		p = Clean(target)
	}
	return "", &os.PathError{Op: "follow", Path: p, Err: unix.ELOOP}
}

func readlinkat(dir *os.File, name string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(int(dir.Fd()), name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// procPath names the file an open descriptor is, for the calls that take
// no descriptor (chmod of an O_PATH descriptor, utimensat): the kernel
// goes straight to that file, whatever its path is now.
func procPath(f *os.File) string { return fmt.Sprintf("/proc/self/fd/%d", f.Fd()) }
