package container

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"runtime"
	"skiff/internal/initproc"
	"strings"
	"sync"
)

var (
	validName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$`) })
	// RFC 1123: dot-separated labels of letters, digits and inner hyphens.
	validHostname = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$`)
	})
)

// Validate checks a configuration before anything is made for it: a
// value that only the kernel would refuse (sethostname inside the
// container's init, say) would otherwise surface after the container's
// record, cgroup and network were made. Every rule lives here, whoever
// builds the configuration; Store.Create calls it.
func (cfg *Config) Validate() error {
	checks := []func() error{cfg.validateNames, cfg.validateProcess, cfg.validateMounts, cfg.validateNetwork, cfg.Security.validate,
		func() error { return initproc.CheckRlimits(cfg.Ulimits) },
		cfg.validateUserNamespace, cfg.validateRestart,
		func() error { return cfg.Limits.Validate(runtime.NumCPU()) }}
	for _, check := range checks {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func (cfg *Config) validateNames() error {
	if cfg.Name != "" && !validName().MatchString(cfg.Name) {
		return fmt.Errorf("invalid container name %q: want [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 128 characters", cfg.Name)
	}
	if h := cfg.Hostname; h != "" && (len(h) > 64 || !validHostname().MatchString(h)) { // 64: HOST_NAME_MAX
		return fmt.Errorf("invalid hostname %q: want at most 64 letters, digits, dots and inner hyphens", h)
	}
	return nil
}

func (cfg *Config) validateProcess() error {
	p := cfg.Process
	if len(p.Args) == 0 {
		return errors.New("no command given, and the image has none")
	}
	if !filepath.IsAbs(p.Cwd) {
		return fmt.Errorf("invalid working folder %q: want an absolute path", p.Cwd)
	}
	for _, kv := range p.Env {
		if key, _, ok := strings.Cut(kv, "="); !ok || key == "" {
			return fmt.Errorf("invalid environment variable %q: want KEY=VALUE", kv)
		}
	}
	return nil
}

func (cfg *Config) validateMounts() error {
	for _, m := range cfg.Mounts {
		switch dst := m.Destination; {
		case m.Type == "tmpfs" && filepath.IsAbs(dst) && dst != "/":
			continue
		case !filepath.IsAbs(dst) || !filepath.IsAbs(m.Source):
			return fmt.Errorf("invalid volume %s:%s: want absolute paths", m.Source, dst)
		case dst == "/":
			return fmt.Errorf("invalid volume %s:%s: cannot mount over the container's root", m.Source, dst)
		case dst == "/proc" || strings.HasPrefix(dst, "/proc/"):
			return fmt.Errorf("invalid volume %s:%s: /proc is the container's own, for its PID namespace", m.Source, dst)
		}
	}
	return nil
}

func (cfg *Config) validateNetwork() error {
	n := cfg.Network
	switch n.Mode {
	case BridgeNetwork, NoNetwork, HostNetwork:
	case ContainerNetwork:
		if n.Join == "" {
			return errors.New("network mode container: which container's network to join is missing")
		}
	default:
		return fmt.Errorf("invalid network mode %q", n.Mode)
	}
	if len(n.Ports) > 0 && n.Mode != BridgeNetwork {
		return fmt.Errorf("-p %s: publishing ports needs a bridge network, not --network %s", n.Ports[0], n.Mode)
	}
	seen := map[string]bool{}
	for _, p := range n.Ports {
		if p.Container == 0 || (p.Proto != "" && p.Proto != "udp") {
			return fmt.Errorf("invalid port %s: want ports from 1 to 65535, tcp or udp", p)
		}
		key := fmt.Sprint(p.Host)
		if p.Protocol() == "udp" {
			key += "/udp"
		}
		if p.Host != 0 && seen[key] {
			return fmt.Errorf("-p %s: host port %s is published twice", p, key)
		}
		seen[key] = true
	}
	return nil
}
