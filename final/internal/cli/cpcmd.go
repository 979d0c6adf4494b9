package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v3"
	"golang.org/x/sys/unix"

	"skiff/internal/container"
	"skiff/internal/image"
	"skiff/internal/inroot"
	"skiff/internal/rootfs"
)

func cpCommand() *cli.Command {
	return &cli.Command{
		Name: "cp",
		Usage: "copy files between a container (running or not) and the host; - is a tar on stdin or stdout. " +
			"Paths in the container are resolved inside its root: its symlinks never lead to the host's files",
		ArgsUsage: "CONTAINER:SRC_PATH DEST_PATH|-  or  SRC_PATH|- CONTAINER:DEST_PATH",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "archive", Aliases: []string{"a"}, Usage: "keep the owners (UID:GID) of the files, and setuid bits copied out"},
			&cli.BoolFlag{Name: "follow-link", Aliases: []string{"L"}, Usage: "follow a symlink SRC_PATH"},
		},
		Action: command(cpAction),
	}
}

// cpArg splits a cp argument into a container and a path, as Docker
// does: an absolute path, or one that starts with ".", is the host's.
func cpArg(arg string) (ctr, p string) {
	if filepath.IsAbs(arg) || strings.HasPrefix(arg, ".") {
		return "", arg
	}
	ctr, p, ok := strings.Cut(arg, ":")
	if !ok {
		return "", arg
	}
	return ctr, p
}

func cpAction(ctx context.Context, cmd *cli.Command, e *env) error {
	if cmd.Args().Len() != 2 {
		return errors.New("usage: skiff cp [-a] [-L] CONTAINER:SRC_PATH DEST_PATH|-  or  skiff cp [-a] [-L] SRC_PATH|- CONTAINER:DEST_PATH")
	}
	srcCtr, src := cpArg(cmd.Args().Get(0))
	dstCtr, dst := cpArg(cmd.Args().Get(1))
	switch {
	case srcCtr != "" && dstCtr != "":
		return errors.New("cp: copying between containers is not supported")
	case srcCtr == "" && dstCtr == "":
		return errors.New("cp: one of the two paths must be CONTAINER:PATH")
	case (src == "" && srcCtr != "") || (dst == "" && dstCtr != ""):
		return errors.New("cp: the path in the container is empty")
	}
	name := srcCtr + dstCtr
	c, err := e.containers.Get(name)
	if err != nil {
		return err
	}
	ctr, err := e.openContainerRoot(c)
	if err != nil {
		return err
	}
	defer ctr.close()
	host, err := os.OpenFile("/", unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer host.Close()
	hostSide := inroot.Side{Root: host}
	archive := cmd.Bool("archive")
	skipped := func(name, why string) { fmt.Fprintf(os.Stderr, "skiff: cp: skipped %q: %s\n", name, why) }
	if srcCtr != "" { // out of the container
		if dst == "-" {
			return inroot.WriteTar(os.Stdout, ctr.side, src, tarName(src), cmd.Bool("follow-link"))
		}
		opts := inroot.UntarOptions{NoSetID: !archive, Skipped: skipped}
		if !archive { // the files are the user's who copies them, as in Docker
			uid, gid := os.Geteuid(), os.Getegid()
			opts.Owner = func(int, int) (int, int) { return uid, gid }
		}
		return inroot.Copy(ctr.side, src, hostSide, hostPath(dst), inroot.CopyOptions{Follow: cmd.Bool("follow-link"), Untar: opts})
	}
	// Into the container: owned by its root unless -a, as in Docker.
	opts := inroot.UntarOptions{Owner: ctr.side.Owners.ToHost, Skipped: skipped}
	if !archive {
		uid, gid := ctr.side.Owners.ToHost(0, 0)
		opts.Owner = func(int, int) (int, int) { return uid, gid }
	}
	if src == "-" {
		dest, err := inroot.Open(ctr.side.Root, dst, unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return fmt.Errorf("cp: the destination %s of a tar must be a folder in the container", dst)
		}
		defer dest.Close()
		return inroot.Untar(os.Stdin, dest, opts)
	}
	return inroot.Copy(hostSide, hostPath(src), ctr.side, dst, inroot.CopyOptions{Follow: cmd.Bool("follow-link"), Untar: opts})
}

// tarName is the name of the first entry of a tar of p.
func tarName(p string) string {
	if base := path.Base(inroot.Clean(p)); base != "/" {
		return base
	}
	return "."
}

// hostPath makes a host path absolute, keeping the "/" or "/." at its
// end, which say what to copy.
func hostPath(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	switch {
	case strings.HasSuffix(p, "/."):
		return abs + "/."
	case strings.HasSuffix(p, "/") && abs != "/":
		return abs + "/"
	}
	return abs
}

// containerRoot is a container's root filesystem, open for cp.
type containerRoot struct {
	side  inroot.Side
	close func()
}

// openContainerRoot opens the root of c as its processes see it. A
// running container's is /proc/PID/root: its overlay and its volumes,
// in its mount namespace. A stopped one's is its overlay, mounted
// detached (fsmount(2)): no mount on the host, and it is gone once
// closed. The container is claimed meanwhile, so that no one removes
// it, or mounts its layer, while it is copied.
func (e *env) openContainerRoot(c *container.Container) (*containerRoot, error) {
	r := &containerRoot{}
	if u := c.Config.UserNS; u != nil {
		r.side.Owners = image.Owners{UID: u.UID, GID: u.GID, Size: u.Size}
	}
	if c.State.Alive() {
		root, err := os.OpenFile(fmt.Sprintf("/proc/%d/root", c.State.Pid), unix.O_PATH|unix.O_DIRECTORY, 0)
		if err == nil && !c.State.Alive() { // its PID was reused before it was opened
			root.Close()
			err = errors.New("it exited")
		}
		if err != nil {
			return nil, fmt.Errorf("cp: open the root of container %s: %w", c.Name(), err)
		}
		r.side.Root, r.close = root, func() { root.Close() }
		return r, nil
	}
	if !c.ConfigKnown() || c.Broken != "" {
		return nil, fmt.Errorf("cp: container %s is broken (%s)", c.Name(), c.Broken)
	}
	if err := c.Claim(5 * time.Second); err != nil {
		return nil, err
	}
	root, cleanup, err := e.mountStopped(c)
	if err != nil {
		c.Release()
		return nil, fmt.Errorf("cp: mount the root of container %s: %w", c.Name(), err)
	}
	r.side.Root = root
	r.close = func() {
		root.Close()
		cleanup()
		c.Release()
	}
	return r, nil
}

// mountStopped mounts the overlay of a container that does not run, as
// its spec describes it (with the copies of the layers a container in a
// user namespace may have), detached. Its writable layer is made if it
// never ran, and keeps what is copied in; the overlay's work folder goes
// again with cleanup, as it goes when the container exits.
func (e *env) mountStopped(c *container.Container) (*os.File, func(), error) {
	spec, err := e.runtime.LoadSpec(c)
	if err != nil { // never started
		spec = c.Config.Spec(c.Dir, "", nil)
	}
	m := spec.Mounts[0]
	m.UIDMappings, m.GIDMappings = nil, nil // the files as they are on disk
	cleanup := func() { os.RemoveAll(c.Path("work")) }
	for _, dir := range []string{"upper", "work"} {
		if err := os.Mkdir(c.Path(dir), 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			cleanup()
			return nil, nil, err
		}
		if u := c.Config.UserNS; u != nil {
			os.Lchown(c.Path(dir), u.UID, u.GID)
		}
	}
	root, err := rootfs.DetachedOverlay(m, nil)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return root, cleanup, nil
}
