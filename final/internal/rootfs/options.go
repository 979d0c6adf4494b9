package rootfs

import (
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// options are a mount's options, as mount(8) writes them, split into what
// mount(2) takes: flags, and the filesystem's own data ("mode=755").
type options struct {
	flags       uintptr
	attr        uint64    // for bind mounts: what mount_setattr sets afterwards
	propagation []uintptr // applied after the mount, in order
	data        string
}

// flagOptions set (or, when clear, remove) a mount flag.
var flagOptions = map[string]struct {
	clear bool
	flag  uintptr
}{
	"defaults": {false, 0}, "ro": {false, unix.MS_RDONLY}, "rw": {true, unix.MS_RDONLY},
	"nosuid": {false, unix.MS_NOSUID}, "suid": {true, unix.MS_NOSUID},
	"nodev": {false, unix.MS_NODEV}, "dev": {true, unix.MS_NODEV},
	"noexec": {false, unix.MS_NOEXEC}, "exec": {true, unix.MS_NOEXEC},
	"sync": {false, unix.MS_SYNCHRONOUS}, "async": {true, unix.MS_SYNCHRONOUS},
	"dirsync": {false, unix.MS_DIRSYNC}, "remount": {false, unix.MS_REMOUNT},
	"mand": {false, unix.MS_MANDLOCK}, "nomand": {true, unix.MS_MANDLOCK},
	"atime": {true, unix.MS_NOATIME}, "noatime": {false, unix.MS_NOATIME},
	"diratime": {true, unix.MS_NODIRATIME}, "nodiratime": {false, unix.MS_NODIRATIME},
	"relatime": {false, unix.MS_RELATIME}, "norelatime": {true, unix.MS_RELATIME},
	"strictatime": {false, unix.MS_STRICTATIME}, "nostrictatime": {true, unix.MS_STRICTATIME},
	"bind": {false, unix.MS_BIND}, "rbind": {false, unix.MS_BIND | unix.MS_REC},
}

var propagation = map[string]uintptr{
	"private": unix.MS_PRIVATE, "rprivate": unix.MS_PRIVATE | unix.MS_REC,
	"shared": unix.MS_SHARED, "rshared": unix.MS_SHARED | unix.MS_REC,
	"slave": unix.MS_SLAVE, "rslave": unix.MS_SLAVE | unix.MS_REC,
	"unbindable": unix.MS_UNBINDABLE, "runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// setattrFlags are the flags that a bind mount takes only afterwards.
var setattrFlags = map[uintptr]uint64{
	unix.MS_RDONLY: unix.MOUNT_ATTR_RDONLY, unix.MS_NOSUID: unix.MOUNT_ATTR_NOSUID,
	unix.MS_NODEV: unix.MOUNT_ATTR_NODEV, unix.MS_NOEXEC: unix.MOUNT_ATTR_NOEXEC,
	unix.MS_NOATIME: unix.MOUNT_ATTR_NOATIME, unix.MS_NODIRATIME: unix.MOUNT_ATTR_NODIRATIME,
	unix.MS_STRICTATIME: unix.MOUNT_ATTR_STRICTATIME,
}

// parseOptions reads a mount's options. What is neither a flag nor a
// propagation is the filesystem's, passed on as its data; a filesystem
// refuses what it does not know, with the mount's error.
func parseOptions(opts []string) options {
	var o options
	var data []string
	for _, opt := range opts {
		if f, ok := flagOptions[opt]; ok {
			if f.clear {
				o.flags &^= f.flag
			} else {
				o.flags |= f.flag
			}
			continue
		}
		if p, ok := propagation[opt]; ok {
			o.propagation = append(o.propagation, p)
			continue
		}
		if opt == "tmpcopyup" { // runc's: skiff does not copy the image's files up
			continue
		}
		data = append(data, opt)
	}
	for flag, attr := range setattrFlags {
		if o.flags&flag != 0 {
			o.attr |= attr
		}
	}
	o.data = strings.Join(data, ",")
	return o
}

func (o options) propagate(target string) error {
	for _, p := range o.propagation {
		if err := unix.Mount("", target, "", p, ""); err != nil {
			return fmt.Errorf("mount propagation of %s: %w", target, err)
		}
	}
	return nil
}

// Options lists the mount options Mount understands, for `features`.
func Options() []string {
	var names []string
	for name := range flagOptions {
		names = append(names, name)
	}
	for name := range propagation {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
