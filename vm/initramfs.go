package main

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

//go:embed guest/init.sh
var initScript []byte

//go:embed guest/transcript.sh
var transcriptScript []byte

// guest is everything one VM run needs, gathered into an initramfs.
type guest struct {
	busybox string    // the VM's own userland
	modules []string  // .ko files in load order
	rootfs  string    // copied to /rootfs, for containers
	bins    []string  // copied to /usr/local/bin
	mode    string    // demo, test or shell
	demo    string    // lesson demo script (demo and shell modes)
	tests   []testRun // go test binaries (test mode), run one after the other
	timeout string
	cgroup  string // v2 or v1
	banner  string
	accel   string // kvm, tcg, or auto/"" to probe
}

// testRun is one go test binary to run in the guest, with its arguments
// (space-separated, no quoting) and programs of its own, first on its PATH:
// several builds of one lesson can be tested in one boot.
type testRun struct {
	name, bin, args string
	bins            []string
}

// writeInitramfs writes an uncompressed cpio archive: QEMU loads it in one
// go and the kernel unpacks it faster than it would gunzip it under TCG.
func (g guest) writeInitramfs(file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	c := newCpioWriter(f)
	for _, d := range []string{"proc", "sys", "dev", "tmp", "run", "root"} {
		c.Dir(d)
	}
	c.HostFile("bin/busybox", g.busybox, 0o755)
	c.File("init", 0o755, initScript)
	c.File("vm/transcript.sh", 0o755, transcriptScript)
	c.File("vm/config", 0o644, []byte(fmt.Sprintf("MODE=%s\nCGROUP=%s\nTEST_TIMEOUT=%s\n",
		g.mode, g.cgroup, g.timeout)))
	c.File("vm/banner", 0o644, []byte(g.banner))
	var names []string
	for _, m := range g.modules {
		name := filepath.Base(m)
		names = append(names, name)
		c.HostFile("vm/modules.d/"+name, m, 0o644)
	}
	c.File("vm/modules", 0o644, []byte(strings.Join(names, "\n")+"\n"))
	for _, b := range g.bins {
		c.HostFile("usr/local/bin/"+filepath.Base(b), b, 0o755)
	}
	if g.demo != "" {
		c.HostFile("vm/demo.sh", g.demo, 0o755)
	}
	for i, t := range g.tests {
		dir := fmt.Sprintf("vm/tests/%02d", i)
		c.HostFile(dir+"/test", t.bin, 0o755)
		c.File(dir+"/name", 0o644, []byte(t.name))
		c.File(dir+"/args", 0o644, []byte(t.args))
		c.Dir(dir + "/bin")
		for _, b := range t.bins {
			c.HostFile(dir+"/bin/"+filepath.Base(b), b, 0o755)
		}
	}
	c.Tree("rootfs", g.rootfs)
	if err := c.Close(); err != nil {
		return fmt.Errorf("writing initramfs %s: %w", file, err)
	}
	return nil
}

// prepare fills in the VM's own parts, busybox and the kernel modules, and
// returns the kernel to boot: the user's if given, else Debian's.
func (g *guest) prepare(c cache, kernel, modules string) (string, error) {
	vmlinux, modDir := kernel, strings.TrimRight(modules, "/")
	var err error
	switch {
	case kernel == "":
		vmlinux, modDir, err = c.kernel()
	case modules == "":
		err = errors.New("--kernel needs --modules DIR (the kernel's lib/modules/VERSION)")
	}
	if err != nil {
		return "", err
	}
	if g.modules, err = moduleOrder(modDir, wantedModules); err != nil {
		return "", err
	}
	g.busybox, err = c.busybox()
	return vmlinux, err
}

// run writes the initramfs to a temporary file and boots the VM with it.
func (g guest) run(vmlinux string, timeout time.Duration, out io.Writer) (int, error) {
	if _, err := os.Stat(filepath.Join(g.rootfs, "bin", "busybox")); err != nil {
		return 0, fmt.Errorf("rootfs %s is missing: run 'make rootfs'", g.rootfs)
	}
	initrd, err := os.CreateTemp("", "vm-initramfs-*.cpio")
	if err != nil {
		return 0, err
	}
	initrd.Close()
	defer os.Remove(initrd.Name())
	if err := g.writeInitramfs(initrd.Name()); err != nil {
		return 0, err
	}
	return boot(vmlinux, initrd.Name(), g.accel, g.mode == "shell", timeout, out)
}
