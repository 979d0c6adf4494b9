package container

import (
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"

	"skiff/internal/cgroups"
)

// valid is a configuration that passes Validate, named name.
func valid(name string) Config {
	return Config{
		Name:    name,
		Process: specs.Process{Args: []string{"true"}, Cwd: "/", Env: []string{"PATH=/bin"}},
		Network: NetworkConfig{Mode: BridgeNetwork, Name: "bridge", Ports: []Port{{Host: 8080, Container: 80}}},
	}
}

func TestValidate(t *testing.T) {
	if err := ptr(valid("web")).Validate(); err != nil {
		t.Fatalf("a valid configuration: %v", err)
	}
	bad := map[string]func(*Config){
		"hostname web-":          func(c *Config) { c.Hostname = "web-" },
		"hostname of 65 bytes":   func(c *Config) { c.Hostname = strings.Repeat("a", 65) },
		"label of 64 bytes":      func(c *Config) { c.Hostname = strings.Repeat("a", 64) + ".b" },
		"hostname with a space":  func(c *Config) { c.Hostname = "a b" },
		"name with a slash":      func(c *Config) { c.Name = "a/b" },
		"no command":             func(c *Config) { c.Process.Args = nil },
		"relative cwd":           func(c *Config) { c.Process.Cwd = "tmp" },
		"env without a key":      func(c *Config) { c.Process.Env = []string{"=x"} },
		"volume over /":          func(c *Config) { c.Mounts = []specs.Mount{{Source: "/tmp", Destination: "/"}} },
		"volume over /proc/sys":  func(c *Config) { c.Mounts = []specs.Mount{{Source: "/tmp", Destination: "/proc/sys"}} },
		"relative volume source": func(c *Config) { c.Mounts = []specs.Mount{{Source: "tmp", Destination: "/x"}} },
		"port published twice":   func(c *Config) { c.Network.Ports = append(c.Network.Ports, Port{Host: 8080, Container: 81}) },
		"port without a bridge":  func(c *Config) { c.Network.Mode = NoNetwork },
		"unknown network mode":   func(c *Config) { c.Network.Mode = "wifi" },
		"join with no container": func(c *Config) { c.Network = NetworkConfig{Mode: ContainerNetwork} },
		"pids limit of 3":        func(c *Config) { c.Limits = cgroups.Resources{Pids: 3} },
	}
	for name, change := range bad {
		cfg := valid("web")
		change(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: Validate accepted it", name)
		}
	}
	ok := valid("web")
	ok.Hostname = "a-b.c" + strings.Repeat("d", 59) // 64 bytes
	if err := ok.Validate(); err != nil {
		t.Errorf("a 64-byte hostname: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
