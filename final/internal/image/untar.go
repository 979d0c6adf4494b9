package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const (
	whiteoutPrefix = ".wh."         // OCI: ".wh.NAME" deletes NAME of the layers below
	opaqueWhiteout = ".wh..wh..opq" // OCI: this folder hides the same folder below
	opaqueXattr    = "trusted.overlay.opaque"

	// maxID is the highest uid or gid: chown(2) takes 32 bits, and
	// 0xffffffff means "leave it as it is".
	maxID = 1<<32 - 2
	// The kernel's device numbers have a 12-bit major and a 20-bit minor;
	// mknod(2) silently drops the bits beyond, so that 4096:0 would make
	// 0:0, a whiteout.
	maxMajor = 1<<12 - 1
	maxMinor = 1<<20 - 1
	// maxSparseSize bounds the sizes of a layer's sparse files, added up:
	// the tar reader makes up their holes as zeros, so a few bytes of tar
	// could otherwise ask for exabytes of disk, at unpack or at commit.
	maxSparseSize = 1 << 30
)

// untar unpacks the layer tar r into the folder root, turning OCI
// whiteouts into overlayfs ones: a 0/0 character device for a deleted
// file, the xattr trusted.overlay.opaque=y on an opaque folder. Owners
// are mapped to the host's by owners.
//
// The tar is hostile: nothing it holds may change anything outside root.
// Entries are created by path, and every folder on a path is checked not
// to be a symlink just before it is used (dirIn), which is sound because
// nothing else writes into root while it is unpacked: it is a fresh folder
// that only this unpack and PruneLayers (which the unpack's lock keeps
// out) know of.
func untar(r io.Reader, root string, owners Owners) error {
	if err := os.Chmod(root, 0o755); err != nil {
		return err
	}
	tr := tar.NewReader(r)
	var dirs []dirTime
	var sparse int64
	for {
		hdr, err := NextEntry(tr)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if isSparse(hdr) {
			if sparse += max(hdr.Size, 0); sparse > maxSparseSize {
				return entryError(hdr.Name, fmt.Errorf("sparse files of %d bytes in all: more than the %d allowed", sparse, maxSparseSize))
			}
		}
		rel, err := unpackEntry(root, hdr, tr, owners)
		if err != nil {
			return entryError(hdr.Name, err)
		}
		if hdr.Typeflag == tar.TypeDir {
			dirs = append(dirs, dirTime{rel, hdr.ModTime})
		}
	}
	// Last, since unpacking into a folder changes its mtime. A later entry
	// may have made a folder on the way a symlink: dirIn checks again.
	for _, d := range dirs {
		if dir, err := dirIn(root, d.rel, false); err == nil {
			setMtime(dir, d.mtime)
		}
	}
	return nil
}

type dirTime struct {
	rel   string
	mtime time.Time
}

// unpackEntry unpacks the entry hdr, whose content r holds, and returns
// its path relative to root.
func unpackEntry(root string, hdr *tar.Header, r io.Reader, owners Owners) (string, error) {
	rel, err := cleanPath(hdr.Name)
	if err != nil {
		return "", err
	}
	if err := checkHeader(hdr); err != nil {
		return "", err
	}
	hdr.Uid, hdr.Gid = owners.toHost(hdr.Uid, hdr.Gid)
	dir, base := path.Split(rel)
	if strings.HasPrefix(base, whiteoutPrefix) {
		return rel, unpackWhiteout(root, dir, base)
	}
	if err := checkLength(root, rel); err != nil {
		return "", err
	}
	if rel == "." {
		if hdr.Typeflag != tar.TypeDir {
			return "", errors.New("the layer's root must be a folder")
		}
		return rel, setAttrs(root, hdr)
	}
	parent, err := dirIn(root, dir, true)
	if err != nil {
		return "", err
	}
	target := filepath.Join(parent, base)
	if err := removeUnlessBothDirs(target, hdr); err != nil {
		return "", err
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		err = os.Mkdir(target, 0o700)
		if errors.Is(err, fs.ErrExist) { // an earlier entry made it: update it
			err = nil
		}
	case tar.TypeReg, tar.TypeGNUSparse: // the tar reader fills in a sparse file's holes
		err = writeFile(target, r)
	case tar.TypeSymlink:
		// The link's target is only data here; it is resolved inside the
		// container, never while unpacking.
		err = os.Symlink(hdr.Linkname, target)
	case tar.TypeLink:
		// A hard link shares its target's inode, attributes and all.
		return rel, hardLink(root, hdr.Linkname, target)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		err = mknod(target, hdr)
	default:
		return "", fmt.Errorf("unsupported tar entry type %q", hdr.Typeflag)
	}
	if err != nil {
		return "", err
	}
	return rel, setAttrs(target, hdr)
}

// cleanPath makes a tar entry's name relative to the layer's root, and
// refuses names that climb out of it.
func cleanPath(name string) (string, error) {
	rel := path.Clean(strings.TrimLeft(name, "/"))
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return "", errors.New("the path leads outside the layer")
	}
	return rel, nil
}

// checkLength fails with ENAMETOOLONG, as the system calls would, if
// root/rel is too long a path or has too long a name in it: before
// making thousands of folders on the way to it, not after.
func checkLength(root, rel string) error {
	if len(root)+1+len(rel) >= unix.PathMax {
		return fmt.Errorf("path of %d bytes: %w", len(rel), unix.ENAMETOOLONG)
	}
	for name := range strings.SplitSeq(rel, "/") {
		if len(name) > 255 { // NAME_MAX
			return fmt.Errorf("name of %d bytes: %w", len(name), unix.ENAMETOOLONG)
		}
	}
	return nil
}

// checkHeader refuses numbers that the kernel would silently truncate
// into others.
func checkHeader(hdr *tar.Header) error {
	if hdr.Uid < 0 || hdr.Uid > maxID || hdr.Gid < 0 || hdr.Gid > maxID {
		return fmt.Errorf("owner %d:%d out of range", hdr.Uid, hdr.Gid)
	}
	if hdr.Typeflag == tar.TypeChar || hdr.Typeflag == tar.TypeBlock {
		if hdr.Devmajor < 0 || hdr.Devmajor > maxMajor || hdr.Devminor < 0 || hdr.Devminor > maxMinor {
			return fmt.Errorf("device number %d:%d out of range", hdr.Devmajor, hdr.Devminor)
		}
	}
	return nil
}

// isSparse tells whether hdr is a GNU sparse file, old style or PAX.
func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for key := range hdr.PAXRecords {
		if strings.HasPrefix(key, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// unpackWhiteout turns an OCI whiteout entry into overlayfs's form. A
// whiteout names one file or folder of the folder it is in: ".wh.", ".wh.."
// and ".wh..." would name that folder itself or its parent, and a tar
// that holds one is refused.
func unpackWhiteout(root, dir, base string) error {
	if strings.HasPrefix(base, whiteoutPrefix+whiteoutPrefix) && base != opaqueWhiteout {
		return nil // other ".wh..wh." names are AUFS bookkeeping, not files
	}
	name := strings.TrimPrefix(base, whiteoutPrefix)
	if base != opaqueWhiteout && (name == "" || name == "." || name == ".." || strings.Contains(name, "/")) {
		return errors.New("a whiteout must name a file: .wh. and a name other than . or ..")
	}
	if err := checkLength(root, path.Join(dir, name)); err != nil {
		return err
	}
	parent, err := dirIn(root, dir, true)
	if err != nil {
		return err
	}
	if base == opaqueWhiteout {
		return unix.Lsetxattr(parent, opaqueXattr, []byte("y"), 0)
	}
	target := filepath.Join(parent, name)
	if err := os.RemoveAll(target); err != nil {
		return err
	}
	return unix.Mknod(target, unix.S_IFCHR, 0) // device 0/0
}

// dirIn returns the folder rel under root, making any missing folder on
// the way if create is set. It fails rather than follow a symlink: a layer
// could otherwise plant "etc -> /etc" and then write "etc/passwd" on the
// host. Nothing else writes into a layer being unpacked, so checking each
// component with Lstat is enough.
func dirIn(root, rel string, create bool) (string, error) {
	dir := root
	for _, name := range strings.Split(rel, "/") {
		if name == "" || name == "." {
			continue
		}
		dir = filepath.Join(dir, name)
		fi, err := os.Lstat(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist) && create:
			if err := os.Mkdir(dir, 0o755); err != nil {
				return "", err
			}
			if err := os.Chmod(dir, 0o755); err != nil { // whatever the umask
				return "", err
			}
		case err != nil:
			return "", err
		case fi.Mode()&fs.ModeSymlink != 0:
			return "", fmt.Errorf("%s is a symlink in the layer, refusing to follow it", quote(name))
		case !fi.IsDir():
			return "", fmt.Errorf("%s is not a folder", quote(name))
		}
	}
	return dir, nil
}

// removeUnlessBothDirs clears the way for a new entry: a later entry
// replaces an earlier one, except that a folder stays a folder (and keeps
// its contents).
func removeUnlessBothDirs(target string, hdr *tar.Header) error {
	fi, err := os.Lstat(target)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() && hdr.Typeflag == tar.TypeDir {
		return nil
	}
	return os.RemoveAll(target)
}

func writeFile(target string, r io.Reader) error {
	// O_EXCL: fails, rather than follows, if a symlink is there.
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	return err
}

// hardLink links target to the layer's file linkname, which must be
// there already and not be a folder (link(2) refuses those anyway).
func hardLink(root, linkname, target string) error {
	rel, err := cleanPath(linkname)
	if err == nil {
		err = checkLength(root, rel)
	}
	if err != nil {
		return fmt.Errorf("hard link to %s: %w", quote(linkname), err)
	}
	dir, base := path.Split(rel)
	parent, err := dirIn(root, dir, false)
	if err != nil {
		return fmt.Errorf("hard link to %s: %w", quote(linkname), err)
	}
	source := filepath.Join(parent, base)
	fi, err := os.Lstat(source)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("hard link to %s: no such file in the layer", quote(linkname))
	case err != nil:
		return err
	case fi.IsDir():
		return fmt.Errorf("hard link to %s: a folder", quote(linkname))
	}
	// link(2) links a symlink itself, never what it points to.
	return os.Link(source, target)
}

func mknod(target string, hdr *tar.Header) error {
	kind := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
	dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)) // in range: checkHeader
	return unix.Mknod(target, kind|0o600, int(dev))
}

// setAttrs gives an entry its owner, mode, xattrs and mtime, in that
// order: chown clears the setuid bit and file capabilities.
func setAttrs(target string, hdr *tar.Header) error {
	if err := os.Lchown(target, hdr.Uid, hdr.Gid); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeSymlink { // a symlink's mode is meaningless
		if err := unix.Chmod(target, uint32(hdr.Mode)&0o7777); err != nil {
			return &fs.PathError{Op: "chmod", Path: target, Err: err}
		}
	}
	for key, value := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(key, "SCHILY.xattr.")
		if !ok || steersOverlay(name) {
			continue
		}
		_ = unix.Lsetxattr(target, name, []byte(value), 0) // best effort: the filesystem may lack xattrs
	}
	if hdr.Typeflag != tar.TypeDir {
		setMtime(target, hdr.ModTime)
	}
	return nil
}

// steersOverlay tells whether the xattr name is one overlayfs reads:
// trusted.overlay.* (user.overlay.* when mounted with userxattr) make
// whiteouts, opaque folders and redirects to other paths. Only
// whiteouts, which unpackWhiteout checks, may set them.
func steersOverlay(name string) bool {
	return strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.")
}

// setMtime sets a file's access and modification times to mtime, best
// effort: a wrong mtime breaks nothing.
func setMtime(target string, mtime time.Time) {
	if mtime.IsZero() {
		return
	}
	ts := unix.NsecToTimespec(mtime.UnixNano())
	_ = unix.UtimesNanoAt(unix.AT_FDCWD, target, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}

// entryError makes err, about the tar entry name, a one-line error. The
// paths the os package puts in its errors are left out: they are those of
// the temporary folder, and name (which may be megabytes long, or hold a
// newline) is quoted once in front instead.
func entryError(name string, err error) error {
	var pathErr *fs.PathError
	var linkErr *os.LinkError
	switch {
	case errors.As(err, &pathErr):
		return fmt.Errorf("tar entry %s: %s: %w", quote(name), pathErr.Op, pathErr.Err)
	case errors.As(err, &linkErr):
		return fmt.Errorf("tar entry %s: %s: %w", quote(name), linkErr.Op, linkErr.Err)
	}
	return fmt.Errorf("tar entry %s: %w", quote(name), err)
}

// quote quotes a name from a tar for a message, shortened if long.
func quote(name string) string {
	const max = 100
	if len(name) > max {
		return strconv.Quote(name[:max]) + "..."
	}
	return strconv.Quote(name)
}
