package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"skiff/internal/caps"
	"skiff/internal/seccomp"
)

// Security is what root in the container may do beyond skiff's defaults:
// Docker's --cap-add, --cap-drop, --security-opt and --privileged.
type Security struct {
	CapAdd          []string `json:"capAdd,omitempty"`  // as the spec names them (CAP_NET_ADMIN), or ALL
	CapDrop         []string `json:"capDrop,omitempty"` // the same
	NoNewPrivileges bool     `json:"noNewPrivileges,omitempty"`
	// Privileged gives the container every capability, every device,
	// a writable /sys and /proc, and no seccomp filter: the host, in all
	// but name.
	Privileged bool `json:"privileged,omitempty"`
	// Seccomp is the container's system call filter: "" for skiff's
	// default profile (package seccomp), "unconfined" for none, or
	// "profile" for Profile, read from --security-opt seccomp=FILE when
	// the container was made.
	Seccomp string              `json:"seccomp,omitempty"`
	Profile *specs.LinuxSeccomp `json:"seccompProfile,omitempty"`
}

// Unconfined and CustomProfile are the values of Security.Seccomp but
// the default.
const (
	Unconfined    = "unconfined"
	CustomProfile = "profile"
)

// SeccompProfile is the filter the container runs under, nil for none.
func (s Security) SeccompProfile(names []string) *specs.LinuxSeccomp {
	switch {
	case s.Privileged || s.Seccomp == Unconfined:
		return nil
	case s.Seccomp == CustomProfile:
		return s.Profile
	}
	return seccomp.Default(names)
}

// Capabilities are the container's capabilities, by name.
func (s Security) Capabilities() ([]string, error) {
	add := s.CapAdd
	if s.Privileged {
		add = append([]string{"ALL"}, add...)
	}
	return caps.Adjust(add, s.CapDrop)
}

// hostDevices are the host's device nodes, for --privileged, as Docker
// gives them: /dev and the folders in it, not the container's own
// devpts, shm and mqueue.
func hostDevices() []specs.LinuxDevice {
	var list []specs.LinuxDevice
	filepath.WalkDir("/dev", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			switch path {
			case "/dev/pts", "/dev/shm", "/dev/mqueue":
				return filepath.SkipDir
			}
			return nil
		}
		var st unix.Stat_t
		if unix.Lstat(path, &st) != nil {
			return nil
		}
		kind := map[uint32]string{unix.S_IFCHR: "c", unix.S_IFBLK: "b"}[st.Mode&unix.S_IFMT]
		if kind == "" || path == "/dev/console" || path == "/dev/ptmx" {
			return nil
		}
		mode := os.FileMode(st.Mode & 0o777)
		uid, gid := st.Uid, st.Gid
		list = append(list, specs.LinuxDevice{Path: path, Type: kind, Major: int64(unix.Major(st.Rdev)),
			Minor: int64(unix.Minor(st.Rdev)), FileMode: &mode, UID: &uid, GID: &gid})
		return nil
	})
	return list
}

func (s Security) validate() error {
	if _, err := s.Capabilities(); err != nil {
		return fmt.Errorf("--cap-add/--cap-drop: %w", err)
	}
	switch {
	case s.Seccomp != "" && s.Seccomp != Unconfined && s.Seccomp != CustomProfile:
		return fmt.Errorf("seccomp %q: want the default, unconfined, or a profile", s.Seccomp)
	case (s.Seccomp == CustomProfile) != (s.Profile != nil):
		return errors.New("seccomp: a profile goes with --security-opt seccomp=FILE, and only with it")
	case s.Seccomp != Unconfined && !s.Privileged && !seccomp.Available():
		return errors.New("this kernel has no seccomp filters (CONFIG_SECCOMP_FILTER): run with --security-opt seccomp=unconfined, knowing that the container may then make every system call")
	}
	return nil
}
