package container

import (
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"

	"skiff/internal/cgroups"
	"skiff/internal/oci"
)

// InitLayerFiles are written per container and mounted over the image's.
var InitLayerFiles = []string{"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"}

// Config is what `skiff run` was asked for. The process, mounts and limits
// use the OCI runtime spec's types, as runc's config.json does.
type Config struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`

	Image  string   `json:"image"`  // image name, or the rootfs folder it was run from
	Layers []string `json:"layers"` // read-only layers, lowest first

	Process  specs.Process       `json:"process"`
	Hostname string              `json:"hostname"`
	Mounts   []specs.Mount       `json:"mounts,omitempty"` // volumes (bind) and --tmpfs
	Ulimits  []specs.POSIXRlimit `json:"ulimits,omitempty"`
	Devices  []Device            `json:"devices,omitempty"` // --device: host device nodes
	ReadOnly bool                `json:"readOnly,omitempty"`
	Security Security            `json:"security,omitzero"`
	UserNS   *UserNamespace      `json:"userns,omitempty"`
	Init     bool                `json:"init,omitempty"` // a reaper as PID 1
	Limits   cgroups.Resources   `json:"limits"`

	Network NetworkConfig `json:"network"`
	IPC     string        `json:"ipc,omitempty"` // a container's ID to share its IPC namespace, or HostNamespace
	PID     string        `json:"pid,omitempty"` // a container's ID to share its PID namespace, or HostNamespace

	AutoRemove  bool `json:"autoRemove,omitempty"` // --rm
	Interactive bool `json:"interactive,omitempty"`

	Restart RestartPolicy `json:"restartPolicy,omitzero"` // --restart
}

// HostNamespace in Config.IPC or Config.PID is --ipc host, --pid host:
// the host's namespace, none of the container's own.
const HostNamespace = "host"

// Device is a host device node given to the container (--device), with
// the access its cgroup allows: some of "rwm".
type Device struct {
	specs.LinuxDevice
	Access string `json:"access"`
}

// NetworkConfig is the container's network.
type NetworkConfig struct {
	Mode  NetworkMode `json:"mode"`
	Name  string      `json:"name,omitempty"`  // the bridge network, "bridge" by default
	Join  string      `json:"join,omitempty"`  // the container ID, in container mode
	Ports []Port      `json:"ports,omitempty"` // -p, and -P's ports with Host 0
	NetworkExtras
}

// NetworkMode is how a container is networked: Docker's --network.
type NetworkMode string

const (
	BridgeNetwork    NetworkMode = "bridge"    // a network namespace on a bridge network
	NoNetwork        NetworkMode = "none"      // a network namespace with lo alone
	HostNetwork      NetworkMode = "host"      // the host's network namespace
	ContainerNetwork NetworkMode = "container" // another container's network namespace (Join)
)

// OwnNamespace tells whether the mode gives the container a network
// namespace of its own.
func (m NetworkMode) OwnNamespace() bool { return m == BridgeNetwork || m == NoNetwork }

// Status is a container's status, as docker ps shows it.
type Status string

const (
	Created Status = "created"
	Running Status = "running"
	Exited  Status = "exited"
	Dead    Status = "dead"   // its runtime died: before starting it, or it was killed unseen
	Broken  Status = "broken" // its files cannot be read
)

// State is what happened to the container so far.
type State struct {
	Status   Status `json:"status"`
	Pid      int    `json:"pid,omitempty"`      // host PID of the container's first process
	PidStart uint64 `json:"pidStart,omitempty"` // its start time, to tell a reused PID
	// The monitor: the process that starts the container, waits for it
	// and cleans up (`skiff run` itself, or the monitor of `run -d`). It
	// holds the container's owner lock (see Store).
	MonitorPid int       `json:"monitorPid,omitempty"`
	ExitCode   int       `json:"exitCode"`
	OOMKilled  bool      `json:"oomKilled,omitempty"`
	Error      string    `json:"error,omitempty"`
	StartedAt  time.Time `json:"startedAt,omitempty"`
	FinishedAt time.Time `json:"finishedAt,omitempty"`

	// How many times its monitor started it again (--restart) since a
	// user last started it.
	RestartCount int `json:"restartCount,omitempty"`
	// Made by `skiff create`: it waits for `skiff start`, owned by no
	// one, and is not one whose runtime died while starting it.
	AwaitsStart bool `json:"awaitsStart,omitempty"`

	// What was set up for it, to be taken down by whoever cleans up.
	IP       string   `json:"ip,omitempty"`
	HostVeth string   `json:"hostVeth,omitempty"`
	Ports    []Port   `json:"ports,omitempty"` // the published ports, with the host ports chosen for -P and -p CTR
	Cgroup   []string `json:"cgroup,omitempty"`
}

// Alive tells whether the container's first process still runs: the same
// process, not a new one that got its PID.
func (s State) Alive() bool { return oci.Alive(s.Pid, s.PidStart) }
