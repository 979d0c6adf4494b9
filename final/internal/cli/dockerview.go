package cli

import (
	"fmt"
	"net"
	"strings"
	"time"

	"skiff/internal/container"
)

// dockerView is a container in the shape of `docker inspect`'s JSON, for
// the -f templates people copy from Docker's documentation and answers
// ({{.State.Pid}}, {{.NetworkSettings.IPAddress}}, {{.Config.Env}}...):
// the fields skiff has, under Docker's names. skiff's own JSON keeps its
// own shape (inspection).
type dockerView struct {
	ID, Name, Image, Path string
	Created               time.Time
	Args                  []string
	RestartCount          int
	State                 struct {
		Status                           string
		Running, Paused, Dead, OOMKilled bool
		Pid, ExitCode                    int
		Error                            string
		StartedAt, FinishedAt            time.Time

		Restarting bool
	}
	Config struct {
		Hostname, Image, WorkingDir, User string
		Env, Cmd                          []string
	}
	HostConfig struct {
		NetworkMode, IpcMode, PidMode string
		Memory, NanoCpus, PidsLimit   int64
		Privileged, ReadonlyRootfs    bool
		CapAdd, CapDrop               []string
		AutoRemove, Init              bool
		RestartPolicy                 struct {
			Name              string
			MaximumRetryCount int
		}
	}
	NetworkSettings struct {
		IPAddress, Gateway string
		Networks           map[string]dockerEndpoint
		Ports              map[string][]dockerPortBinding
	}
	Mounts []dockerMount
}

type dockerEndpoint struct{ IPAddress, Gateway string }

type dockerPortBinding struct{ HostIP, HostPort string }

type dockerMount struct {
	Type, Source, Destination string
	RW                        bool
}

func dockerInspect(i inspection) dockerView {
	var v dockerView
	cfg, st := i.Config, i.State
	v.ID, v.Name, v.Image, v.Created = i.ID, "/"+i.Name, cfg.Image, cfg.Created
	if args := cfg.Process.Args; len(args) > 0 {
		v.Path, v.Args = args[0], args[1:]
	}
	v.State.Status = string(i.Status)
	v.State.Running, v.State.Paused = i.Status == container.Running, i.Paused
	if i.Paused {
		v.State.Status = "paused"
	}
	v.State.Dead, v.State.Restarting, v.RestartCount = i.Status == container.Dead, i.Status == container.Restarting, st.RestartCount
	v.State.Pid, v.State.ExitCode, v.State.OOMKilled, v.State.Error = st.Pid, st.ExitCode, st.OOMKilled, st.Error
	v.State.StartedAt, v.State.FinishedAt = st.StartedAt, st.FinishedAt
	v.Config.Hostname, v.Config.Image, v.Config.WorkingDir = cfg.Hostname, cfg.Image, cfg.Process.Cwd
	v.Config.Env, v.Config.Cmd = cfg.Process.Env, cfg.Process.Args
	v.Config.User = fmt.Sprintf("%d:%d", cfg.Process.User.UID, cfg.Process.User.GID)
	h := &v.HostConfig
	h.NetworkMode, h.IpcMode, h.PidMode = networkModeText(cfg), cfg.IPC, cfg.PID
	h.Memory, h.NanoCpus, h.PidsLimit = cfg.Limits.Memory, int64(cfg.Limits.CPUs*1e9), cfg.Limits.Pids
	h.Privileged, h.ReadonlyRootfs, h.AutoRemove, h.Init = cfg.Security.Privileged, cfg.ReadOnly, cfg.AutoRemove, cfg.Init
	h.CapAdd, h.CapDrop = cfg.Security.CapAdd, cfg.Security.CapDrop
	h.RestartPolicy.Name, h.RestartPolicy.MaximumRetryCount = cfg.Restart.String(), cfg.Restart.MaximumRetryCount
	n := &v.NetworkSettings
	n.IPAddress, n.Gateway = i.Network.IP, i.Network.Gateway
	n.Networks = map[string]dockerEndpoint{}
	if i.Network.Network != "" {
		n.Networks[i.Network.Network] = dockerEndpoint{i.Network.IP, i.Network.Gateway}
	}
	n.Ports = map[string][]dockerPortBinding{}
	for _, p := range publishedPorts(&container.Container{Config: cfg, State: st}) {
		key := fmt.Sprintf("%d/%s", p.Container, p.Protocol())
		host, port, _ := net.SplitHostPort(p.HostAddr())
		n.Ports[key] = append(n.Ports[key], dockerPortBinding{host, port})
	}
	for _, m := range cfg.Mounts {
		v.Mounts = append(v.Mounts, dockerMount{Type: "bind", Source: m.Source, Destination: m.Destination,
			RW: !strings.Contains(","+strings.Join(m.Options, ",")+",", ",ro,")})
	}
	return v
}

func networkModeText(cfg container.Config) string {
	if cfg.Network.Mode == container.BridgeNetwork && cfg.Network.Name != "bridge" {
		return cfg.Network.Name
	}
	if cfg.Network.Mode == container.ContainerNetwork {
		return "container:" + cfg.Network.Join
	}
	return string(cfg.Network.Mode)
}
