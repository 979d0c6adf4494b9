package initproc

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"skiff/internal/rootfs"
	"skiff/internal/terminal"
)

// setUpRoot builds the container's mount table from the spec, makes its
// root the root, and hardens what the container sees of the host.
func setUpRoot(cfg *Config) error {
	spec := cfg.Spec
	if err := rootfs.MakePrivate(); err != nil { // before any mount
		return err
	}
	mountRoot := rootfs.MountRoot
	if cfg.Held != nil {
		mountRoot = cfg.Held.mountRoot
	}
	root, mounts, err := mountRoot(cfg.Root, spec.Mounts)
	if err != nil {
		return err
	}
	for i, m := range mounts {
		if err := cfg.Held.mount(root, cfg.Bundle, i, m); err != nil {
			return err
		}
	}
	if err := createDevices(root, spec, cfg.Held != nil); err != nil {
		return err
	}
	if err := runHooks("createContainer", spec.Hooks, cfg.State); err != nil {
		return err
	}
	move := rootfs.PivotRoot
	if cfg.NoPivot {
		move = rootfs.MoveRoot
	}
	if err := move(root); err != nil {
		return err
	}
	return harden(spec)
}

// createDevices fills a /dev the runtime made (not one bound from the
// host) with the default nodes and the spec's: in a user namespace, where
// mknod is refused, the host's own nodes bound onto files.
func createDevices(root string, spec *specs.Spec, bind bool) error {
	var devices []specs.LinuxDevice
	if spec.Linux != nil {
		devices = spec.Linux.Devices
	}
	for _, m := range spec.Mounts {
		if filepath.Clean(m.Destination) == "/dev" && rootfs.IsBind(m) {
			return nil
		}
	}
	return rootfs.CreateDevices(root, devices, bind)
}

// harden applies, once the container's root is the root, its sysctls,
// then its masked and read-only paths (/proc/sys among them), and a
// read-only root.
func harden(spec *specs.Spec) error {
	if l := spec.Linux; l != nil {
		for key, value := range l.Sysctl {
			path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
			if err := os.WriteFile(path, []byte(value), 0); err != nil {
				return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
			}
		}
		if err := rootfs.MaskPaths(l.MaskedPaths); err != nil {
			return err
		}
		if err := rootfs.ReadOnlyPaths(l.ReadonlyPaths); err != nil {
			return err
		}
	}
	if spec.Root != nil && spec.Root.Readonly {
		if err := rootfs.MakeRootReadOnly(); err != nil {
			return err
		}
	}
	if spec.Linux != nil {
		return rootfs.SetPropagation(spec.Linux.RootfsPropagation)
	}
	return nil
}

// setUpNamespaces configures what the container's own namespaces hold:
// the hostname, the loopback interface, the terminal.
func setUpNamespaces(spec *specs.Spec) error {
	if spec.Hostname != "" {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return fmt.Errorf("sethostname %s: %w", spec.Hostname, err)
		}
	}
	if spec.Domainname != "" {
		if err := unix.Setdomainname([]byte(spec.Domainname)); err != nil {
			return fmt.Errorf("setdomainname %s: %w", spec.Domainname, err)
		}
	}
	if newNamespace(spec, specs.NetworkNamespace) {
		if err := loopbackUp(); err != nil {
			return err
		}
	}
	if spec.Process != nil && spec.Process.Terminal {
		return attachTerminal()
	}
	return nil
}

func newNamespace(spec *specs.Spec, kind specs.LinuxNamespaceType) bool {
	if spec.Linux == nil {
		return false
	}
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == kind && ns.Path == "" {
			return true
		}
	}
	return false
}

// loopbackUp brings lo up in the container's own network namespace (on a
// bridge network, the runtime configures eth0 from outside). Two ioctls
// do it, where a netlink library would link in Go's net package, whose
// weight every container start would pay.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	lo, err := unix.NewIfreq("lo")
	if err == nil {
		err = unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, lo)
	}
	if err == nil {
		lo.SetUint16(lo.Uint16() | unix.IFF_UP)
		err = unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, lo)
	}
	if err != nil {
		return fmt.Errorf("ip link set lo up: %w", err)
	}
	return nil
}

// attachTerminal opens a pseudo-terminal on the container's own devpts,
// sends its master to the runtime, binds its slave at /dev/console, as
// the spec asks, and makes the slave our stdio and controlling terminal.
func attachTerminal() error {
	master, slave, err := terminal.OpenPTY("/dev/ptmx")
	if err != nil {
		return err
	}
	socket := os.NewFile(ConsoleFd, "console")
	err = terminal.SendFile(socket, master)
	master.Close()
	socket.Close()
	if err != nil {
		return fmt.Errorf("send the terminal to the runtime: %w", err)
	}
	if err := bindConsole(slave); err != nil {
		return err
	}
	return terminal.AttachSlave(slave)
}

func bindConsole(slave string) error {
	f, err := os.OpenFile("/dev/console", os.O_CREATE|os.O_RDONLY|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create /dev/console: %w", err)
	}
	f.Close()
	if err := unix.Mount(slave, "/dev/console", "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("mount --bind %s /dev/console: %w", slave, err)
	}
	return nil
}
