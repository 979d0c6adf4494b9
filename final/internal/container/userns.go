package container

import (
	"errors"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// UserNamespace is --userns private: the container has a user namespace
// of its own, which maps its user and group IDs 0 to Size-1 onto the
// host's UID to UID+Size-1 and GID to GID+Size-1 (skiff's range in
// /etc/subuid and /etc/subgid, package subid). Root in the container is
// the host's UID, an unprivileged user there. Without one (nil, --userns
// host, the default), the container's IDs are the host's.
type UserNamespace struct {
	UID  int `json:"uid"`
	GID  int `json:"gid"`
	Size int `json:"size"`
}

// Maps are the namespace's ID maps, in the spec's form.
func (u *UserNamespace) Maps() (uids, gids []specs.LinuxIDMapping) {
	size := uint32(u.Size)
	return []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(u.UID), Size: size}},
		[]specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(u.GID), Size: size}}
}

// applyUserNamespace gives the spec the container's user namespace: a
// new one, or the one it joins (a pod's), whose maps are the same.
func (cfg *Config) applyUserNamespace(spec *specs.Spec, join string) {
	if cfg.UserNS == nil {
		return
	}
	spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace, Path: join})
	spec.Linux.UIDMappings, spec.Linux.GIDMappings = cfg.UserNS.Maps()
}

// validateUserNamespace refuses what a private user namespace cannot
// give, as Docker does: --privileged (the host's devices and every
// capability over the host) and the host's network namespace, which the
// container's user namespace would not own.
func (cfg *Config) validateUserNamespace() error {
	switch {
	case cfg.UserNS == nil:
		return nil
	case cfg.UserNS.Size <= 0:
		return errors.New("--userns private: an empty ID range")
	case cfg.Security.Privileged:
		return errors.New("--privileged and --userns private do not go together: the host's root and an unprivileged user")
	case cfg.Network.Mode == HostNetwork:
		return errors.New("--network host and --userns private do not go together: the container's root would not own its network")
	}
	return nil
}
