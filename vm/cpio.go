package main

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// cpioWriter writes the "newc" cpio format the kernel unpacks as an
// initramfs (Documentation/driver-api/early-userspace/buffer-format.rst).
// Every entry is owned by root, whoever builds it.
type cpioWriter struct {
	w    *bufio.Writer
	ino  uint32
	seen map[string]bool
	err  error
}

func newCpioWriter(w io.Writer) *cpioWriter {
	return &cpioWriter{w: bufio.NewWriterSize(w, 1<<20), ino: 1, seen: map[string]bool{}}
}

func (c *cpioWriter) header(name string, mode uint32, size int) {
	if c.err != nil {
		return
	}
	c.ino++
	_, c.err = fmt.Fprintf(c.w, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, len(name)+1, 0)
	if c.err == nil {
		_, c.err = io.WriteString(c.w, name+"\x00")
	}
	c.pad(110 + len(name) + 1)
}

func (c *cpioWriter) pad(n int) {
	if c.err == nil && n%4 != 0 {
		_, c.err = c.w.Write(make([]byte, 4-n%4))
	}
}

// Dir adds a directory (mode 0755) and, first, any missing parents.
func (c *cpioWriter) Dir(name string) { c.dirMode(name, 0o755) }

func (c *cpioWriter) dirMode(name string, perm uint32) {
	name = strings.Trim(name, "/")
	if name == "" || name == "." || c.seen[name] {
		return
	}
	c.Dir(path.Dir(name))
	c.seen[name] = true
	c.header(name, 0o040000|perm, 0)
}

// File adds a regular file with the given permissions.
func (c *cpioWriter) File(name string, perm uint32, data []byte) {
	name = strings.Trim(name, "/")
	c.Dir(path.Dir(name))
	c.header(name, 0o100000|perm, len(data))
	if c.err == nil {
		_, c.err = c.w.Write(data)
	}
	c.pad(len(data))
}

// Symlink adds a symbolic link.
func (c *cpioWriter) Symlink(name, target string) {
	name = strings.Trim(name, "/")
	c.Dir(path.Dir(name))
	c.header(name, 0o120777, len(target))
	if c.err == nil {
		_, c.err = io.WriteString(c.w, target)
	}
	c.pad(len(target))
}

// HostFile adds a file from the host.
func (c *cpioWriter) HostFile(name, src string, perm uint32) {
	data, err := os.ReadFile(src)
	if err != nil {
		c.err = err
		return
	}
	c.File(name, perm, data)
}

// Tree adds the host folder src under the name dst, keeping permissions.
func (c *cpioWriter) Tree(dst, src string) {
	if c.err != nil {
		return
	}
	c.err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		name := path.Join(dst, filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			c.dirMode(name, unixPerm(info.Mode()))
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			c.Symlink(name, target)
		case d.Type().IsRegular():
			c.HostFile(name, p, unixPerm(info.Mode()))
		}
		return c.err
	})
}

// Close writes the trailer.
func (c *cpioWriter) Close() error {
	c.header("TRAILER!!!", 0, 0)
	if c.err != nil {
		return c.err
	}
	return c.w.Flush()
}

// unixPerm converts Go's file mode bits to the kernel's, sticky bit included.
func unixPerm(m fs.FileMode) uint32 {
	perm := uint32(m.Perm())
	if m&fs.ModeSticky != 0 {
		perm |= 0o1000
	}
	if m&fs.ModeSetuid != 0 {
		perm |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		perm |= 0o2000
	}
	return perm
}
