package inroot

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"skiff/internal/image"
)

// UntarOptions say what a tar may make.
type UntarOptions struct {
	// Owner gives the host's owner of a file the tar gives to uid:gid,
	// and of the folders made on the way (0:0).
	Owner func(uid, gid int) (int, int)
	// NoSetID drops the setuid and setgid bits: a file copied out of a
	// container onto the host must not be a setuid-root program there.
	NoSetID bool
	// Skipped hears of the entries not made: device nodes, which a tar
	// from a container could use to reach the host's disks.
	Skipped func(name, why string)
}

// Untar unpacks the tar r into the folder dest, which is the root of
// everything it makes: every folder of an entry's path is resolved
// inside dest (a symlink in the tar, or one already there, to "/" or
// "../.." leads to dest, never above it), and the entry itself is made
// in that folder's descriptor without following a symlink: a file is
// created with O_EXCL, and owner, mode and times are set through the new
// file's descriptor. The names and headers are checked as a layer's are
// (image.CheckTarEntry). A folder is not replaced by a file, nor a file
// by a folder, as in Docker.
func Untar(r io.Reader, dest *os.File, opts UntarOptions) error {
	if opts.Owner == nil {
		opts.Owner = func(uid, gid int) (int, int) { return uid, gid }
	}
	u := &untarrer{root: dest, opts: opts}
	tr := tar.NewReader(r)
	var dirs []dirTime
	for {
		hdr, err := image.NextEntry(tr)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		rel, err := image.CheckTarEntry(hdr)
		if err != nil {
			return entryError(hdr.Name, err)
		}
		if rel == "." { // the folder copied into: it stays as it is
			continue
		}
		full := "/" + rel
		if err := u.entry(full, hdr, tr); err != nil {
			return entryError(hdr.Name, err)
		}
		if hdr.Typeflag == tar.TypeDir {
			dirs = append(dirs, dirTime{full, hdr.ModTime})
		}
	}
	// Last, since making files in a folder changes its mtime.
	for _, d := range dirs {
		if f, err := Open(dest, d.path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_DIRECTORY); err == nil {
			setMtime(f, d.mtime)
			f.Close()
		}
	}
	return nil
}

type dirTime struct {
	path  string
	mtime time.Time
}

type untarrer struct {
	root *os.File // the folder unpacked into
	opts UntarOptions
}

// entry makes the file full (a path inside root) that hdr describes.
func (u *untarrer) entry(full string, hdr *tar.Header, content io.Reader) error {
	if hdr.Typeflag == tar.TypeChar || hdr.Typeflag == tar.TypeBlock {
		if u.opts.Skipped != nil {
			u.opts.Skipped(hdr.Name, "a device node")
		}
		return nil
	}
	parentPath, base := path.Split(full)
	parent, err := u.dirAt(parentPath)
	if err != nil {
		return err
	}
	defer parent.Close()
	pfd := int(parent.Fd())
	if err := clearWay(pfd, base, hdr.Typeflag == tar.TypeDir); err != nil {
		return err
	}
	var made *os.File // the new file, open
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return &os.PathError{Op: "mkdirat", Path: full, Err: err}
		}
	case tar.TypeReg, tar.TypeGNUSparse:
		if made, err = writeFileAt(pfd, base, content); err != nil {
			return &os.PathError{Op: "write", Path: full, Err: err}
		}
		defer made.Close()
	case tar.TypeSymlink:
		// Only data: it is resolved inside root whenever it is used.
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return &os.PathError{Op: "symlinkat", Path: full, Err: err}
		}
	case tar.TypeLink:
		return u.hardLink(hdr.Linkname, full, pfd, base)
	case tar.TypeFifo:
		if err := unix.Mknodat(pfd, base, unix.S_IFIFO|0o600, 0); err != nil {
			return &os.PathError{Op: "mknodat", Path: full, Err: err}
		}
	default:
		return fmt.Errorf("unsupported tar entry type %q", hdr.Typeflag)
	}
	if made == nil {
		fd, err := unix.Openat(pfd, base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return &os.PathError{Op: "openat", Path: full, Err: err}
		}
		made = os.NewFile(uintptr(fd), full)
		defer made.Close()
	}
	return u.setAttrs(made, hdr)
}

// dirAt opens the folder p inside root, making the folders missing on
// the way (owned by root's owner).
func (u *untarrer) dirAt(p string) (*os.File, error) {
	f, err := Open(u.root, p, unix.O_PATH|unix.O_DIRECTORY)
	if err == nil || !errors.Is(err, unix.ENOENT) || Clean(p) == "/" {
		return f, err
	}
	up, base := path.Split(Clean(p))
	parent, err := u.dirAt(up)
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	if err := unix.Mkdirat(int(parent.Fd()), base, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, &os.PathError{Op: "mkdirat", Path: p, Err: err}
	}
	uid, gid := u.opts.Owner(0, 0)
	unix.Fchownat(int(parent.Fd()), base, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
	return Open(u.root, p, unix.O_PATH|unix.O_DIRECTORY)
}

// clearWay removes the file name of the folder dirfd for a new entry,
// unless both are folders; a folder is never replaced by a file, nor a
// file by a folder, as in Docker.
func clearWay(dirfd int, name string, newIsDir bool) error {
	var st unix.Stat_t
	err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	switch {
	case isDir && newIsDir:
		return nil
	case isDir:
		return fmt.Errorf("cannot overwrite the folder %q with a non-folder", name)
	case newIsDir:
		return fmt.Errorf("cannot overwrite the non-folder %q with a folder", name)
	}
	return unix.Unlinkat(dirfd, name, 0)
}

// writeFileAt creates name in the folder dirfd (O_EXCL: never through
// a symlink) with content, and returns it open.
func writeFileAt(dirfd int, name string, content io.Reader) (*os.File, error) {
	fd, err := unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	if _, err := io.Copy(f, content); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// hardLink links full (name in dirfd) to linkname, a file the tar made
// before: a path resolved inside the folder unpacked into, whose last
// name is not followed.
func (u *untarrer) hardLink(linkname, full string, dirfd int, name string) error {
	rel, err := image.CheckTarEntry(&tar.Header{Name: linkname})
	if err != nil {
		return fmt.Errorf("hard link to %q: %w", linkname, err)
	}
	target, err := Open(u.root, rel, unix.O_PATH|unix.O_NOFOLLOW)
	if err != nil {
		return fmt.Errorf("hard link to %q: %w", linkname, err)
	}
	defer target.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(target.Fd()), &st); err != nil || st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return fmt.Errorf("hard link to %q: a folder", linkname)
	}
	if err := unix.Linkat(int(target.Fd()), "", dirfd, name, unix.AT_EMPTY_PATH); err != nil {
		return &os.PathError{Op: "linkat", Path: full, Err: err}
	}
	return nil
}

// setAttrs gives the new file f its owner, mode, user xattrs and mtime,
// in that order: chown clears the setuid bits.
func (u *untarrer) setAttrs(f *os.File, hdr *tar.Header) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return err
	}
	if want := typeOf(hdr.Typeflag); st.Mode&unix.S_IFMT != want {
		return errors.New("it changed while being unpacked") // a running container raced us
	}
	uid, gid := u.opts.Owner(hdr.Uid, hdr.Gid)
	if err := unix.Fchownat(int(f.Fd()), "", uid, gid, unix.AT_EMPTY_PATH); err != nil {
		return &os.PathError{Op: "chown", Path: f.Name(), Err: err}
	}
	if hdr.Typeflag == tar.TypeSymlink {
		return nil // a symlink's mode is meaningless, and its times are not worth a race
	}
	mode := uint32(hdr.Mode) & 0o7777
	if u.opts.NoSetID {
		mode &^= unix.S_ISUID | unix.S_ISGID
	}
	if err := unix.Fchmodat(unix.AT_FDCWD, procPath(f), mode, 0); err != nil {
		return &os.PathError{Op: "chmod", Path: f.Name(), Err: err}
	}
	for key, value := range hdr.PAXRecords {
		// user.* only: trusted.overlay.* steer overlayfs, security.* are
		// file capabilities and SELinux labels.
		if name, ok := strings.CutPrefix(key, "SCHILY.xattr."); ok && strings.HasPrefix(name, "user.") {
			_ = unix.Setxattr(procPath(f), name, []byte(value), 0) // best effort: the filesystem may lack xattrs
		}
	}
	if hdr.Typeflag != tar.TypeDir {
		setMtime(f, hdr.ModTime)
	}
	return nil
}

func typeOf(flag byte) uint32 {
	switch flag {
	case tar.TypeDir:
		return unix.S_IFDIR
	case tar.TypeSymlink:
		return unix.S_IFLNK
	case tar.TypeFifo:
		return unix.S_IFIFO
	}
	return unix.S_IFREG
}

// setMtime sets the access and modification times of the open file f,
// best effort.
func setMtime(f *os.File, mtime time.Time) {
	if mtime.IsZero() {
		return
	}
	ts := unix.NsecToTimespec(mtime.UnixNano())
	_ = unix.UtimesNanoAt(unix.AT_FDCWD, procPath(f), []unix.Timespec{ts, ts}, 0)
}

// entryError makes err about the tar entry name one line.
func entryError(name string, err error) error {
	if len(name) > 100 {
		name = name[:100] + "..."
	}
	return fmt.Errorf("tar entry %s: %w", strconv.Quote(name), err)
}
