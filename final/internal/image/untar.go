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
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const (
	whiteoutPrefix = ".wh."         // OCI: ".wh.NAME" deletes NAME of the layers below
	opaqueWhiteout = ".wh..wh..opq" // OCI: this folder hides the same folder below
	opaqueXattr    = "trusted.overlay.opaque"
)

// untar unpacks the layer tar r into the folder root, turning OCI
// whiteouts into overlayfs ones: a 0/0 character device for a deleted
// file, the xattr trusted.overlay.opaque=y on an opaque folder.
func untar(r io.Reader, root string) error {
	if err := os.Chmod(root, 0o755); err != nil {
		return err
	}
	tr := tar.NewReader(r)
	var dirs []*tar.Header
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		rel, err := cleanPath(hdr.Name)
		if err != nil {
			return err
		}
		if err := unpackEntry(root, rel, hdr, tr); err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
		if hdr.Typeflag == tar.TypeDir {
			hdr.Name = rel
			dirs = append(dirs, hdr)
		}
	}
	// Last, since unpacking into a folder changes its mtime.
	for _, hdr := range dirs {
		setMtime(filepath.Join(root, hdr.Name), hdr.ModTime)
	}
	return nil
}

// cleanPath makes a tar entry's name relative to the layer's root, and
// refuses names that climb out of it.
func cleanPath(name string) (string, error) {
	rel := path.Clean(strings.TrimLeft(name, "/"))
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("tar entry %q points outside the layer", name)
	}
	return rel, nil
}

func unpackEntry(root, rel string, hdr *tar.Header, r io.Reader) error {
	dir, base := path.Split(rel)
	if strings.HasPrefix(base, whiteoutPrefix) {
		return unpackWhiteout(root, dir, base)
	}
	if rel == "." {
		if hdr.Typeflag != tar.TypeDir {
			return errors.New("the layer's root must be a folder")
		}
		return setAttrs(root, hdr)
	}
	parent, err := dirIn(root, dir, true)
	if err != nil {
		return err
	}
	target := filepath.Join(parent, base)
	if err := removeUnlessBothDirs(target, hdr); err != nil {
		return err
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
		return hardLink(root, hdr.Linkname, target)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		err = mknod(target, hdr)
	default:
		return fmt.Errorf("unsupported tar entry type %q", hdr.Typeflag)
	}
	if err != nil {
		return err
	}
	return setAttrs(target, hdr)
}

// unpackWhiteout turns an OCI whiteout entry into overlayfs's form.
func unpackWhiteout(root, dir, base string) error {
	parent, err := dirIn(root, dir, true)
	if err != nil {
		return err
	}
	if base == opaqueWhiteout {
		return unix.Lsetxattr(parent, opaqueXattr, []byte("y"), 0)
	}
	if strings.HasPrefix(base, whiteoutPrefix+whiteoutPrefix) {
		return nil // other ".wh..wh." names are AUFS bookkeeping, not files
	}
	target := filepath.Join(parent, strings.TrimPrefix(base, whiteoutPrefix))
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
			return "", fmt.Errorf("%s is a symlink in the layer, refusing to follow it", name)
		case !fi.IsDir():
			return "", fmt.Errorf("%s is not a folder", name)
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

func hardLink(root, linkname, target string) error {
	rel, err := cleanPath(linkname)
	if err != nil {
		return err
	}
	dir, base := path.Split(rel)
	parent, err := dirIn(root, dir, false)
	if err != nil {
		return fmt.Errorf("hard link to %s: %w", linkname, err)
	}
	// link(2) links a symlink itself, never what it points to.
	return os.Link(filepath.Join(parent, base), target)
}

func mknod(target string, hdr *tar.Header) error {
	kind := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
	dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
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
			return fmt.Errorf("chmod %s: %w", target, err)
		}
	}
	for key, value := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(key, "SCHILY.xattr.")
		// trusted.overlay.* would steer overlayfs; only whiteouts may.
		if !ok || strings.HasPrefix(name, "trusted.overlay.") {
			continue
		}
		_ = unix.Lsetxattr(target, name, []byte(value), 0) // best effort: the filesystem may lack xattrs
	}
	if hdr.Typeflag != tar.TypeDir {
		setMtime(target, hdr.ModTime)
	}
	return nil
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
