package cli

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v3"
	"golang.org/x/sys/unix"

	"skiff/internal/container"
)

// moreRunFlags are run's flags for limits, mounts, devices and the
// environment that Docker has beyond the basics.
func moreRunFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "ulimit", Usage: "set a resource limit, `NAME=SOFT[:HARD]` (nofile=1024:2048, nproc=64...)"},
		&cli.StringSliceFlag{Name: "tmpfs", Usage: "mount an empty tmpfs at `PATH[:OPTIONS]` (default options rw,noexec,nosuid,nodev,size=65536k)"},
		&cli.StringSliceFlag{Name: "env-file", Usage: "read KEY=VALUE lines from `FILE` (# comments; KEY alone: the host's value)"},
		&cli.StringSliceFlag{Name: "device", Usage: "give the container the host's device `HOST[:CTR][:PERMS]` (PERMS: some of rwm, default rwm)"},
	}
}

// ulimitsFromFlags reads --ulimit as the spec's rlimits.
func ulimitsFromFlags(cmd *cli.Command) ([]specs.POSIXRlimit, error) {
	var list []specs.POSIXRlimit
	for _, u := range cmd.StringSlice("ulimit") {
		name, values, ok := strings.Cut(u, "=")
		soft, hard, twoValues := strings.Cut(values, ":")
		if !twoValues {
			hard = soft
		}
		s, err1 := strconv.ParseUint(soft, 10, 64)
		h, err2 := strconv.ParseUint(hard, 10, 64)
		if !ok || name == "" || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("invalid --ulimit %q: want NAME=SOFT[:HARD], e.g. nofile=1024:2048", u)
		}
		list = append(list, specs.POSIXRlimit{Type: "RLIMIT_" + strings.ToUpper(name), Soft: s, Hard: h})
	}
	return list, nil
}

// tmpfsFromFlags reads --tmpfs as tmpfs mounts.
func tmpfsFromFlags(cmd *cli.Command) []specs.Mount {
	var mounts []specs.Mount
	for _, t := range cmd.StringSlice("tmpfs") {
		path, opts, ok := strings.Cut(t, ":")
		options := []string{"rw", "noexec", "nosuid", "nodev", "size=65536k"}
		if ok {
			options = append([]string{"nosuid", "nodev"}, strings.Split(opts, ",")...)
		}
		mounts = append(mounts, specs.Mount{Destination: filepath.Clean(path), Type: "tmpfs", Source: "tmpfs", Options: options})
	}
	return mounts
}

// envFiles reads --env-file, one KEY=VALUE a line, as Docker does.
func envFiles(cmd *cli.Command) ([]string, error) {
	var env []string
	for _, name := range cmd.StringSlice("env-file") {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("--env-file: %w", err)
		}
		scan := bufio.NewScanner(f)
		for n := 1; scan.Scan(); n++ {
			line := strings.TrimSpace(scan.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if strings.HasPrefix(line, "=") || strings.ContainsAny(strings.SplitN(line, "=", 2)[0], " \t") {
				f.Close()
				return nil, fmt.Errorf("--env-file %s:%d: %q is not KEY=VALUE", name, n, line)
			}
			env = append(env, line)
		}
		f.Close()
		if err := scan.Err(); err != nil {
			return nil, fmt.Errorf("--env-file %s: %w", name, err)
		}
	}
	return env, nil
}

// devicesFromFlags reads --device: the host's node, where it goes in the
// container, and the access its cgroup allows.
func devicesFromFlags(cmd *cli.Command) ([]container.Device, error) {
	var list []container.Device
	for _, spec := range cmd.StringSlice("device") {
		parts := strings.Split(spec, ":")
		host, ctr, access := parts[0], parts[0], "rwm"
		switch {
		case len(parts) == 2 && strings.Trim(parts[1], "rwm") == "" && parts[1] != "":
			access = parts[1]
		case len(parts) == 2:
			ctr = parts[1]
		case len(parts) == 3:
			ctr, access = parts[1], parts[2]
		case len(parts) > 3:
			return nil, fmt.Errorf("invalid --device %q: want HOST[:CTR][:PERMS]", spec)
		}
		if strings.Trim(access, "rwm") != "" || access == "" || !filepath.IsAbs(host) || !filepath.IsAbs(ctr) {
			return nil, fmt.Errorf("invalid --device %q: want HOST[:CTR][:PERMS], absolute paths, PERMS some of rwm", spec)
		}
		var st unix.Stat_t
		if err := unix.Stat(host, &st); err != nil {
			return nil, fmt.Errorf("--device %s: %w", host, err)
		}
		kind := map[uint32]string{unix.S_IFCHR: "c", unix.S_IFBLK: "b"}[st.Mode&unix.S_IFMT]
		if kind == "" {
			return nil, fmt.Errorf("--device %s: not a device node", host)
		}
		mode := os.FileMode(st.Mode & 0o777)
		uid, gid := st.Uid, st.Gid
		list = append(list, container.Device{Access: access, LinuxDevice: specs.LinuxDevice{Path: filepath.Clean(ctr), Type: kind,
			Major: int64(unix.Major(st.Rdev)), Minor: int64(unix.Minor(st.Rdev)), FileMode: &mode, UID: &uid, GID: &gid}})
	}
	return list, nil
}
