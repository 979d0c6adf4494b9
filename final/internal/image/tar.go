package image

import (
	"archive/tar"
	"bytes"
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

// writeTar writes the folder dir to w as an OCI layer tar, leaving out the
// paths in exclude (absolute or relative to dir). overlayfs's whiteouts
// become OCI ones: a 0/0 character device NAME is written as an empty file
// ".wh.NAME", and a folder with trusted.overlay.opaque=y gets a
// ".wh..wh..opq" entry. The tar depends only on the folder's content, so
// the same folder gives the same tar, and the same layer id.
func writeTar(w io.Writer, dir string, exclude []string) error {
	skip := map[string]bool{}
	for _, p := range exclude {
		skip[strings.TrimPrefix(path.Clean("/"+p), "/")] = true
	}
	var rootStat unix.Stat_t
	if err := unix.Lstat(dir, &rootStat); err != nil {
		return err
	}
	tw := &tarWriter{tw: tar.NewWriter(w), dev: rootStat.Dev, links: map[uint64]string{}}
	// WalkDir visits each folder's entries in name order, which keeps the
	// tar stable.
	err := filepath.WalkDir(dir, func(file string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, file)
		if err != nil {
			return err
		}
		if skip[rel] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		return tw.add(file, rel)
	})
	if err != nil {
		return err
	}
	return tw.tw.Close()
}

type tarWriter struct {
	tw    *tar.Writer
	dev   uint64            // the folder's filesystem: others mounted in it are left out
	links map[uint64]string // inode -> the first name written for it, to write hard links
}

// add writes the file at path as the tar entry rel. Returning
// filepath.SkipDir skips a folder's contents.
func (t *tarWriter) add(file, rel string) error {
	var st unix.Stat_t
	if err := unix.Lstat(file, &st); err != nil {
		return err
	}
	hdr := &tar.Header{
		Name:    rel,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, 0), // whole seconds: all a plain tar header holds
	}
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
		if err := t.copyFile(file, st.Size); err != nil {
			return err
		}
	}
	if opaque {
		if err := t.tw.WriteHeader(whiteoutHeader(rel+"/"+opaqueWhiteout, hdr.ModTime)); err != nil {
			return err
		}
	}
	if hdr.Typeflag == tar.TypeDir && st.Dev != t.dev {
		return filepath.SkipDir // like tar --one-file-system: no /proc of a live rootfs
	}
	return nil
}

func (t *tarWriter) copyFile(file string, size int64) error {
	f, err := os.OpenFile(file, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	// Exactly the size in the header, even if the file grew meanwhile.
	if _, err := io.CopyN(t.tw, f, size); err != nil {
		return fmt.Errorf("copy %s: %w", file, err)
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
