package main

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// The VM's kernel and busybox come from Debian's own packages. They are
// fetched with `apt-get download` and unpacked into the cache with
// `dpkg-deb -x`: nothing is installed on the host, and a second run finds
// everything in the cache. Where apt cannot fetch them (a host without apt,
// or Ubuntu's apt, which has no Debian kernel), they come from a Debian
// mirror, verified against Debian's signing keys (mirror.go).

const (
	kernelMeta  = "linux-image-amd64" // depends on the current linux-image-<abi>-amd64
	busyboxPkg  = "busybox-static"
	readyMarker = ".ready" // written last, so a half-unpacked folder is never used
)

// noApt skips apt and dpkg-deb altogether (--no-apt, SKIFF_VM_NO_APT=1):
// the packages come from the Debian mirror and are unpacked in Go, as on a
// host that has neither.
var noApt bool

type cache struct{ dir string }

func (c cache) path(elem ...string) string {
	return filepath.Join(append([]string{c.dir}, elem...)...)
}

// kernel returns the uncompressed vmlinux and the folder of its modules
// (lib/modules/<version>).
func (c cache) kernel() (vmlinux, modules string, err error) {
	if runtime.GOARCH != "amd64" {
		return "", "", fmt.Errorf("the VM harness supports x86_64 hosts only (this is %s)", runtime.GOARCH)
	}
	pkg, err := c.resolveKernelPackage()
	if err != nil {
		return "", "", err
	}
	dir := c.path("kernel", pkg)
	if err := c.unpackPackage(pkg, dir); err != nil {
		return "", "", err
	}
	vmlinuz, err := single(filepath.Join(dir, "boot", "vmlinuz-*"))
	if err != nil {
		return "", "", err
	}
	modules, err = single(filepath.Join(dir, "lib", "modules", "*"))
	if err != nil {
		return "", "", err
	}
	vmlinux = filepath.Join(dir, "vmlinux")
	if _, err := os.Stat(vmlinux); err != nil {
		step("extracting the uncompressed kernel from %s (it boots twice as fast under TCG)", filepath.Base(vmlinuz))
		if err := extractVmlinux(vmlinuz, vmlinux); err != nil {
			return "", "", err
		}
	}
	return vmlinux, modules, nil
}

// busybox returns the path of the static busybox binary.
func (c cache) busybox() (string, error) {
	dir := c.path("busybox")
	if err := c.unpackPackage(busyboxPkg, dir); err != nil {
		return "", err
	}
	return filepath.Join(dir, "bin", "busybox"), nil
}

// resolveKernelPackage asks apt which versioned kernel package the
// linux-image-amd64 meta package points at today. Without apt, the Debian
// mirror is asked once: its 9 MB index is not worth downloading on every
// run, so a kernel already unpacked in the cache is used (rm -rf
// .cache/kernel for a newer one).
func (c cache) resolveKernelPackage() (string, error) {
	var aptErr error
	if !noApt {
		pkg, err := aptKernelPackage()
		if err == nil {
			return pkg, nil
		}
		aptErr = err
	}
	if pkg, ok := c.unpackedKernel(); ok {
		return pkg, nil
	}
	if aptErr != nil {
		step("%v; asking the Debian mirror instead", aptErr)
	}
	m, err := bookwormMirror()
	if err != nil {
		return "", err
	}
	return m.kernelPackage()
}

// unpackedKernel returns the kernel package most recently unpacked into the
// cache, if any.
func (c cache) unpackedKernel() (string, bool) {
	var newest string
	var newestTime time.Time
	ready, _ := filepath.Glob(c.path("kernel", "linux-image-*", readyMarker))
	for _, marker := range ready {
		if info, err := os.Stat(marker); err == nil && info.ModTime().After(newestTime) {
			newest, newestTime = filepath.Base(filepath.Dir(marker)), info.ModTime()
		}
	}
	return newest, newest != ""
}

func aptKernelPackage() (string, error) {
	out, err := aptCache("depends", kernelMeta)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if name, ok := strings.CutPrefix(line, "Depends: linux-image-"); ok && !strings.HasPrefix(name, "<") {
			return "linux-image-" + name, nil
		}
	}
	return "", fmt.Errorf("apt-cache depends %s: no kernel package found", kernelMeta)
}

// aptCache runs apt-cache, and runs `apt-get update` once first when the
// package lists are empty (a fresh machine).
func aptCache(args ...string) (string, error) {
	if _, err := exec.LookPath("apt-cache"); err != nil {
		return "", errors.New("apt-cache not found")
	}
	out, err := exec.Command("apt-cache", args...).Output()
	if err == nil && len(bytes.TrimSpace(out)) > 0 {
		return string(out), nil
	}
	if lists, _ := filepath.Glob("/var/lib/apt/lists/*_Packages*"); len(lists) > 0 {
		// The lists are there but lack the package (Ubuntu has no
		// linux-image-amd64): updating them would not help.
		return "", fmt.Errorf("apt-cache %s: %v", strings.Join(args, " "), cmp.Or(err, errors.New("nothing found")))
	}
	if os.Geteuid() != 0 {
		return "", errors.New("apt's package lists are empty: run 'sudo apt-get update' once, then try again")
	}
	step("apt-get update (the package lists are empty)")
	if err := run("apt-get", "update", "-qq"); err != nil {
		return "", err
	}
	out, err = exec.Command("apt-cache", args...).Output()
	if err != nil {
		return "", fmt.Errorf("apt-cache %s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
}

// unpackPackage downloads pkg's .deb and unpacks it into dir, unless dir is
// already complete.
func (c cache) unpackPackage(pkg, dir string) error {
	if _, err := os.Stat(filepath.Join(dir, readyMarker)); err == nil {
		return nil
	}
	deb, err := c.download(pkg)
	if err != nil {
		return err
	}
	step("unpacking %s (not installing it)", filepath.Base(deb))
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(filepath.Dir(tmp), 0o755); err != nil {
		return err
	}
	if err := extractDeb(deb, tmp); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, readyMarker), nil, 0o644)
}

// download fetches pkg's .deb into the cache, with apt or else from the
// Debian mirror.
func (c cache) download(pkg string) (string, error) {
	dir := c.path("debs")
	if deb, err := single(filepath.Join(dir, pkg+"_*.deb")); err == nil {
		return deb, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if !noApt {
		deb, err := aptDownload(pkg, dir)
		if err == nil {
			return deb, nil
		}
		step("%v; downloading from the Debian mirror instead", err)
	}
	m, err := bookwormMirror()
	if err != nil {
		return "", err
	}
	return m.download(pkg, dir)
}

// aptDownload runs apt-get download in dir; apt-get prints its own
// progress.
func aptDownload(pkg, dir string) (string, error) {
	if _, err := aptCache("show", pkg); err != nil {
		return "", err
	}
	step("downloading %s with apt-get download", pkg)
	cmd := exec.Command("apt-get", "download", "-o", "APT::Sandbox::User=root", pkg)
	if os.Geteuid() != 0 {
		cmd = exec.Command("apt-get", "download", pkg)
	}
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("apt-get download %s: %w", pkg, err)
	}
	return single(filepath.Join(dir, pkg+"_*.deb"))
}

// extractVmlinux finds the xz payload inside a bzImage and decompresses it,
// as the kernel's scripts/extract-vmlinux does. QEMU boots the resulting ELF
// directly through its PVH entry point, skipping the in-guest decompression
// that dominates boot time under TCG.
func extractVmlinux(vmlinuz, vmlinux string) error {
	data, err := os.ReadFile(vmlinuz)
	if err != nil {
		return err
	}
	off := bytes.Index(data, []byte("\xfd7zXZ\x00"))
	if off < 0 {
		return fmt.Errorf("%s: no xz payload found; pass --kernel with an uncompressed vmlinux", vmlinuz)
	}
	out, err := os.Create(vmlinux + ".tmp")
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command("xz", "-dc", "--single-stream")
	cmd.Stdin = bytes.NewReader(data[off:])
	cmd.Stdout = out
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		os.Remove(out.Name())
		return fmt.Errorf("xz -dc %s: %w (install xz-utils)", vmlinuz, err)
	}
	return os.Rename(out.Name(), vmlinux)
}

// single returns the one file matching pattern.
func single(pattern string) (string, error) {
	m, _ := filepath.Glob(pattern)
	if len(m) != 1 {
		return "", fmt.Errorf("expected one file matching %s, found %d", pattern, len(m))
	}
	return m[0], nil
}

func run(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// step prints one line per thing the harness does, so a slow first run
// says what it is waiting for.
func step(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "vm: "+format+"\n", args...)
}
