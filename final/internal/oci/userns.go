package oci

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"skiff/internal/initproc"
	"skiff/internal/nsenter"
	"skiff/internal/rootfs"
)

// A user namespace maps the container's user and group IDs onto a range
// of the host's: with linux.uidMappings {containerID 0, hostID 100000,
// size 65536}, root in the container is UID 100000 on the host, an
// unprivileged user there. Its capabilities hold over the namespaces the
// user namespace owns (the container's mounts, network, hostname) and
// over the files whose owners it maps, nowhere else.
//
// A new user namespace is made with the others, in one clone: Go's
// os/exec writes the maps (/proc/PID/uid_map, gid_map) from this side
// before the child goes on, since only a process outside may write them
// with more than its own ID. A user namespace to join, given by path,
// comes with its maps: the spec's are then ignored, as containerd sends
// them for the containers of a pod that share one.

// checkMappings: a new user namespace needs both maps (without them
// every ID inside would be nobody), and maps need a user namespace.
func checkMappings(l *specs.Linux) error {
	user, ok := namespace(l, specs.UserNamespace)
	maps := len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0
	switch {
	case !ok && maps:
		return errors.New("config.json: linux.uidMappings and gidMappings need a user namespace")
	case ok && user.Path == "" && (len(l.UIDMappings) == 0 || len(l.GIDMappings) == 0):
		return errors.New("config.json: a new user namespace needs linux.uidMappings and linux.gidMappings")
	}
	for _, m := range append(l.UIDMappings, l.GIDMappings...) {
		if m.Size == 0 {
			return fmt.Errorf("config.json: ID mapping %d-%d: size 0", m.ContainerID, m.HostID)
		}
	}
	return nil
}

func namespace(l *specs.Linux, kind specs.LinuxNamespaceType) (specs.LinuxNamespace, bool) {
	for _, ns := range l.Namespaces {
		if ns.Type == kind {
			return ns, true
		}
	}
	return specs.LinuxNamespace{}, false
}

// holdFiles prepares init's start in a user namespace: a new one gets
// the spec's maps, and init is its root from the start (as the host's
// root, nobody there, it would lose its capabilities at execve); the
// host's files init needs are opened here and passed along, and the
// root folder becomes the working folder of the thread that forks (see
// initproc.Held). It returns that thread's step, and done, which closes
// this process's copies of the files.
func (c *Container) holdFiles(cmd *exec.Cmd) (step nsenter.Step, done func(), err error) {
	sys := cmd.SysProcAttr
	if sys.Cloneflags&unix.CLONE_NEWUSER != 0 {
		sys.UidMappings, sys.GidMappings = idMaps(c.Spec.Linux.UIDMappings), idMaps(c.Spec.Linux.GIDMappings)
		sys.GidMappingsEnableSetgroups = true // the container's root may set its groups
		sys.Credential = &syscall.Credential{Uid: 0, Gid: 0}
	}
	var mounted *os.File
	if m := c.Spec.Mounts; len(m) > 0 && m[0].Destination == "/" {
		if mounted, err = rootMount(m[0]); err != nil {
			return nil, nil, err
		}
	}
	held, files, err := initproc.Hold(c.fifo(), mounted, c.Bundle, c.Spec.Mounts, 3+len(cmd.ExtraFiles))
	if err != nil {
		if mounted != nil {
			mounted.Close()
		}
		return nil, nil, err
	}
	c.held, cmd.ExtraFiles = held, append(cmd.ExtraFiles, files...)
	dir := rootPath(c.Bundle, c.Spec)
	step = func() (func(), error) {
		if err := unix.Chdir(dir); err != nil {
			return nil, fmt.Errorf("chdir %s: %w", dir, err)
		}
		return nil, nil
	}
	return step, func() {
		for _, f := range files {
			f.Close()
		}
	}, nil
}

// rootMount mounts skiff's overlay at "/" for a container in a user
// namespace (see rootfs.DetachedOverlay): its layers idmapped when the
// mount has maps of its own (uidMappings and gidMappings, the spec's
// idmapped mounts), or as they are, when they belong to the mapped IDs
// already (a copy made for the container).
func rootMount(m specs.Mount) (*os.File, error) {
	var userns *os.File
	if len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 {
		var err error
		if userns, err = nsenter.NewUserNamespace(idMaps(m.UIDMappings), idMaps(m.GIDMappings)); err != nil {
			return nil, err
		}
		defer userns.Close()
	}
	return rootfs.DetachedOverlay(m, userns)
}

// CanIDMap tells whether the filesystem of dir takes mounts idmapped
// with these maps, as rootMount makes of an overlay's layers.
func CanIDMap(dir string, uids, gids []specs.LinuxIDMapping) bool {
	userns, err := nsenter.NewUserNamespace(idMaps(uids), idMaps(gids))
	if err != nil {
		return false
	}
	defer userns.Close()
	return rootfs.CanIDMap(dir, userns)
}

// idMaps converts the spec's mappings to Go's, for os/exec to write.
func idMaps(list []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	var maps []syscall.SysProcIDMap
	for _, m := range list {
		maps = append(maps, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
	}
	return maps
}

// hostRoot is the host's UID and GID of root in process pid's user
// namespace, read from its maps: -1 when root is not mapped.
func hostRoot(pid int) (uid, gid int, err error) {
	if uid, err = hostID(fmt.Sprintf("/proc/%d/uid_map", pid)); err == nil {
		gid, err = hostID(fmt.Sprintf("/proc/%d/gid_map", pid))
	}
	return uid, gid, err
}

// hostID finds ID 0 in a map file: lines of "inside outside count".
func hostID(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return -1, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "0" {
			return strconv.Atoi(f[1])
		}
	}
	return -1, nil
}
