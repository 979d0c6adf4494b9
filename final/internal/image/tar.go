package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// writeTar writes the folder dir to w as an OCI layer tar, leaving out the
// paths in exclude (absolute or relative to dir). overlayfs's whiteouts
// become OCI ones: a 0/0 character device NAME is written as an empty file
// ".wh.NAME", and a folder with trusted.overlay.opaque=y gets a
// ".wh..wh..opq" entry. The tar depends only on the folder's content, so
// the same folder gives the same tar, and the same layer id.
//
// dir may be a running container's upper folder, which the container
// changes as we read it: it could swap a folder for a symlink to / between
// our reading of the folder's entry and of its files. So each file is
// looked up in its folder's open descriptor, never by a path from dir, and
// a folder is opened with O_NOFOLLOW: nothing outside dir is read.
func writeTar(w io.Writer, dir string, exclude []string, owners Owners) error {
	skip := map[string]bool{}
	for _, p := range exclude {
		skip[strings.TrimPrefix(path.Clean("/"+p), "/")] = true
	}
	root, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(root.Fd()), &st); err != nil {
		return err
	}
	tw := &tarWriter{tw: tar.NewWriter(w), dev: st.Dev, links: map[uint64]string{}, skip: skip, owners: owners}
	if err := tw.addDir(root, dir, "."); err != nil {
		return err
	}
	return tw.tw.Close()
}

type tarWriter struct {
	tw     *tar.Writer
	dev    uint64            // the folder's filesystem: others mounted in it are left out
	links  map[uint64]string // inode -> the first name written for it, to write hard links
	skip   map[string]bool   // the paths to leave out
	owners Owners            // the host's owners to write as the container's
}

// addDir writes the entries of the folder dir (open; named file, rel in
// the tar), in name order, which keeps the tar stable.
func (t *tarWriter) addDir(dir *os.File, file, rel string) error {
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	slices.Sort(names)
	if rel == "." {
		if err := t.add(dir, file, "", "."); err != nil {
			return err
		}
	}
	for _, name := range names {
		if err := t.add(dir, file, name, path.Join(rel, name)); err != nil {
			return err
		}
	}
	return nil
}

// add writes the file name of the open folder dir (dir itself if name is
// "") as the tar entry rel, and if it is a folder, what it holds.
func (t *tarWriter) add(dir *os.File, dirFile, name, rel string) error {
	if t.skip[rel] {
		return nil
	}
	// A path through dir's descriptor: it finds name in dir whatever
	// happens meanwhile to the folders above. Only its last component
	// may be a symlink, and the L- calls below do not follow that.
	file := fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), name)
	var st unix.Stat_t
	if err := unix.Lstat(file, &st); err != nil {
		return fmt.Errorf("lstat %s: %w", path.Join(dirFile, name), err)
	}
	hdr := &tar.Header{
		Name:    rel,
		Mode:    int64(st.Mode & 0o7777),
		ModTime: time.Unix(st.Mtim.Sec, 0), // whole seconds: all a plain tar header holds
	}
	hdr.Uid, hdr.Gid = t.owners.toContainer(int(st.Uid), int(st.Gid))
	opaque := false
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
		opaque = xattr(file, opaqueXattr) == "y"
	case unix.S_IFREG:
		hdr.Typeflag = tar.TypeReg
		hdr.Size = st.Size
		if st.Nlink > 1 {
			if first, ok := t.links[st.Ino]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				t.links[st.Ino] = rel
			}
		}
	case unix.S_IFLNK:
		target, err := os.Readlink(file)
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case unix.S_IFCHR:
		if st.Rdev == 0 { // an overlayfs whiteout
			dir, name := path.Split(rel)
			return t.tw.WriteHeader(whiteoutHeader(dir+whiteoutPrefix+name, hdr.ModTime))
		}
		hdr.Typeflag = tar.TypeChar
	case unix.S_IFBLK:
		hdr.Typeflag = tar.TypeBlock
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil // a socket: tar has no type for it, and it is useless once its program is gone
	}
	if hdr.Typeflag == tar.TypeChar || hdr.Typeflag == tar.TypeBlock {
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	}
	if hdr.Typeflag != tar.TypeLink {
		hdr.PAXRecords = xattrRecords(file)
	}
	if err := t.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeReg {
		if err := t.copyFile(file, path.Join(dirFile, name), st.Size); err != nil {
			return err
		}
	}
	if opaque {
		if err := t.tw.WriteHeader(whiteoutHeader(rel+"/"+opaqueWhiteout, hdr.ModTime)); err != nil {
			return err
		}
	}
	if hdr.Typeflag != tar.TypeDir || name == "" || st.Dev != t.dev {
		return nil // like tar --one-file-system: no /proc of a live rootfs
	}
	fd, err := unix.Openat(int(dir.Fd()), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path.Join(dirFile, name), err)
	}
	sub := os.NewFile(uintptr(fd), path.Join(dirFile, name))
	defer sub.Close()
	return t.addDir(sub, sub.Name(), rel)
}

// copyFile writes size bytes of the regular file at file (named name in
// errors) into the tar.
func (t *tarWriter) copyFile(file, name string, size int64) error {
	// O_NONBLOCK: if it was swapped for a FIFO, opening it would wait
	// for a writer forever.
	f, err := os.OpenFile(file, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("copy %s: no longer a regular file", name)
	}
	// Exactly the size in the header, even if the file grew meanwhile.
	if _, err := io.CopyN(t.tw, f, size); err != nil {
		return fmt.Errorf("copy %s: %w", name, err)
	}
	return nil
}

func whiteoutHeader(name string, mtime time.Time) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeReg, Name: name, ModTime: mtime}
}

// xattrRecords returns file's xattrs as PAX records, as GNU tar writes
// them, less overlayfs's own (trusted.overlay.*), which describe the
// overlay the file was in and mean nothing elsewhere.
func xattrRecords(file string) map[string]string {
	var records map[string]string
	for _, name := range listXattrs(file) {
		if strings.HasPrefix(name, "trusted.overlay.") {
			continue
		}
		if records == nil {
			records = map[string]string{}
		}
		records["SCHILY.xattr."+name] = xattr(file, name)
	}
	return records
}

// listXattrs returns the names of file's xattrs; none if it has none or
// its filesystem has no xattrs.
func listXattrs(file string) []string {
	size, err := unix.Llistxattr(file, nil)
	if err != nil || size == 0 {
		return nil
	}
	buf := make([]byte, size)
	size, err = unix.Llistxattr(file, buf)
	if err != nil {
		return nil
	}
	var names []string
	for _, name := range bytes.Split(buf[:size], []byte{0}) {
		if len(name) > 0 {
			names = append(names, string(name))
		}
	}
	return names
}

// xattr returns the value of file's xattr name, or "" if it has none.
func xattr(file, name string) string {
	size, err := unix.Lgetxattr(file, name, nil)
	if err != nil || size == 0 {
		return ""
	}
	buf := make([]byte, size)
	size, err = unix.Lgetxattr(file, name, buf)
	if err != nil {
		return ""
	}
	return string(buf[:size])
}
