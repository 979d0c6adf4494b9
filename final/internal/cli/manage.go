package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v3"

	"skiff/internal/container"
	"skiff/internal/exit"
	"skiff/internal/oci"
)

func psCommand() *cli.Command {
	return &cli.Command{
		Name:  "ps",
		Usage: "list containers",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "also the containers that are not running"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only the IDs"},
			&cli.StringSliceFlag{Name: "filter", Aliases: []string{"f"}, Usage: "only containers that match `KEY=VALUE`: status, name, id, ancestor (repeatable: one key ORs, several AND)"},
			&cli.StringFlag{Name: "format", Usage: "print each container through a Go `TEMPLATE` (Docker's fields: .ID .Image .Command .CreatedAt .RunningFor .Ports .State .Status .Names .Networks); \"table TEMPLATE\" adds a header"},
		},
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			match, err := parseFilters(cmd.StringSlice("filter"))
			if err != nil {
				return err
			}
			all, err := e.containers.List()
			if err != nil {
				return err
			}
			var rows []any
			for _, c := range all {
				row := e.psRowOf(c)
				if (row.State == "running" || row.State == "paused" || row.State == "restarting" || cmd.Bool("all") || match.explicitStatus()) && match.matches(row, c) {
					rows = append(rows, row)
				}
			}
			f, err := listFormatter(cmd, "{{.ID}}", "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}")
			if err != nil {
				return err
			}
			return f.print(os.Stdout, psHeader, rows)
		}),
	}
}

// psRow is one container as ps prints it, with Docker's field names, so
// that --format templates from Docker work.
type psRow struct {
	ID, Image, Command, CreatedAt, RunningFor, Ports, State, Status, Names, Networks string
}

var psHeader = psRow{ID: "CONTAINER ID", Image: "IMAGE", Command: "COMMAND", CreatedAt: "CREATED AT", RunningFor: "CREATED",
	Ports: "PORTS", State: "STATE", Status: "STATUS", Names: "NAMES", Networks: "NETWORKS"}

func (e *env) psRowOf(c *container.Container) psRow {
	status := c.Status()
	row := psRow{ID: c.Config.ID[:12], Names: c.Name(), State: string(status), Status: e.describeStatus(c, status)}
	if e.runtime.Paused(c) {
		row.State = "paused"
	}
	if !c.ConfigKnown() {
		return row
	}
	row.Image, row.Ports = c.Config.Image, ports(c)
	row.Command = fmt.Sprintf("%q", truncate(strings.Join(c.Config.Process.Args, " "), 20))
	row.CreatedAt = c.Config.Created.Format("2006-01-02 15:04:05 -0700 MST")
	row.RunningFor = since(c.Config.Created) + " ago"
	row.Networks = string(c.Config.Network.Mode)
	if c.Config.Network.Mode == container.BridgeNetwork {
		row.Networks = c.Config.Network.Name
	}
	return row
}

// psFilters are ps --filter's, by key: a container must match one value
// of every key given.
type psFilters map[string][]string

func parseFilters(list []string) (psFilters, error) {
	f := psFilters{}
	for _, kv := range list {
		key, value, ok := strings.Cut(kv, "=")
		switch {
		case !ok || value == "":
			return nil, fmt.Errorf("invalid filter %q: want KEY=VALUE", kv)
		case key != "status" && key != "name" && key != "id" && key != "ancestor":
			return nil, fmt.Errorf("invalid filter %q: skiff filters by status, name, id and ancestor", kv)
		}
		f[key] = append(f[key], value)
	}
	return f, nil
}

// explicitStatus: a status filter lists stopped containers without -a, as
// in Docker.
func (f psFilters) explicitStatus() bool { return len(f["status"]) > 0 }

func (f psFilters) matches(row psRow, c *container.Container) bool {
	tests := map[string]func(string) bool{
		"status": func(v string) bool { return row.State == v },
		"name":   func(v string) bool { return strings.Contains(row.Names, v) },
		"id":     func(v string) bool { return strings.HasPrefix(c.Config.ID, v) },
		"ancestor": func(v string) bool {
			return row.Image == v || row.Image == v+":latest" || strings.TrimSuffix(row.Image, ":latest") == v
		},
	}
	for key, values := range f {
		if !slices.ContainsFunc(values, tests[key]) {
			return false
		}
	}
	return true
}

func (e *env) describeStatus(c *container.Container, status container.Status) string {
	switch status {
	case container.Running:
		if e.runtime.Paused(c) {
			return "Up " + since(c.State.StartedAt) + " (Paused)"
		}
		return "Up " + since(c.State.StartedAt)
	case container.Exited:
		oom := ""
		if c.State.OOMKilled {
			oom = " (OOM killed)"
		}
		return fmt.Sprintf("Exited (%d) %s ago%s", c.State.ExitCode, since(c.State.FinishedAt), oom)
	case container.Restarting:
		return fmt.Sprintf("Restarting (%d) %s ago", c.State.ExitCode, since(c.State.FinishedAt))
	case container.Broken:
		return "Broken (" + c.Broken + "; skiff rm -f removes it)"
	case container.Dead:
		if c.State.Status == container.Created {
			return "Dead (its runtime died before starting it; skiff rm -f cleans up)"
		}
		return "Dead (its process is gone; skiff rm -f cleans up)"
	}
	return "Created"
}

func ports(c *container.Container) string {
	var out []string
	for _, p := range publishedPorts(c) {
		out = append(out, p.String())
	}
	return strings.Join(out, ", ")
}

func since(t time.Time) string {
	d := time.Since(t).Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d seconds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d minutes", int(d.Minutes()))
	}
	return fmt.Sprintf("%d hours", int(d.Hours()))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}

func stopCommand() *cli.Command {
	return &cli.Command{
		Name:      "stop",
		Usage:     "stop containers: SIGTERM, then SIGKILL after a timeout",
		ArgsUsage: "NAME...",
		Flags:     []cli.Flag{stopTimeFlag()},
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			return stopEach(cmd, e, nil)
		}),
	}
}

func stopTimeFlag() cli.Flag {
	return &cli.IntFlag{Name: "time", Aliases: []string{"t"}, Value: 10, Usage: "seconds to wait before SIGKILL"}
}

// stopEach stops each container named, as stop does: SIGTERM, then
// SIGKILL after -t seconds, and waits until it has exited; then runs then
// on it, if not nil (restart starts it again), and prints its name.
func stopEach(cmd *cli.Command, e *env, then func(*container.Container) error) error {
	if err := needArgs(cmd, 1, "[-t SECONDS] NAME..."); err != nil {
		return err
	}
	if cmd.Int("time") < 0 {
		return fmt.Errorf("invalid --time %d: want 0 or more seconds", cmd.Int("time"))
	}
	return eachContainer(cmd, e, func(c *container.Container) error {
		if err := e.runtime.Stop(c, time.Duration(cmd.Int("time"))*time.Second); err != nil {
			return err
		}
		c.WaitExited(5 * time.Second)
		if then != nil {
			if err := then(c); err != nil {
				return err
			}
		}
		fmt.Println(c.Name())
		return nil
	})
}

func killCommand() *cli.Command {
	return &cli.Command{
		Name:      "kill",
		Usage:     "send a signal to containers",
		ArgsUsage: "NAME...",
		Flags:     []cli.Flag{&cli.StringFlag{Name: "signal", Aliases: []string{"s"}, Value: "KILL", Usage: "signal name (TERM, SIGHUP...) or number"}},
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			if err := needArgs(cmd, 1, "[-s SIGNAL] NAME..."); err != nil {
				return err
			}
			sig, err := oci.ParseSignal(cmd.String("signal"))
			if err != nil {
				return err
			}
			return eachContainer(cmd, e, func(c *container.Container) error {
				if err := e.runtime.Kill(c, sig); err != nil {
					return err
				}
				fmt.Println(c.Name())
				return nil
			})
		}),
	}
}

func pauseCommand() *cli.Command {
	return &cli.Command{
		Name:      "pause",
		Usage:     "freeze every process of running containers (the cgroup freezer)",
		ArgsUsage: "NAME...",
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			return eachNamed(cmd, e, e.runtime.Pause)
		}),
	}
}

func unpauseCommand() *cli.Command {
	return &cli.Command{
		Name:      "unpause",
		Usage:     "thaw paused containers",
		ArgsUsage: "NAME...",
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			return eachNamed(cmd, e, e.runtime.Unpause)
		}),
	}
}

// eachNamed does do to each container named, and prints its name.
func eachNamed(cmd *cli.Command, e *env, do func(*container.Container) error) error {
	return eachNamedQuiet(cmd, e, func(c *container.Container) error {
		if err := do(c); err != nil {
			return err
		}
		fmt.Println(c.Name())
		return nil
	})
}

// eachNamedQuiet does do to each container named.
func eachNamedQuiet(cmd *cli.Command, e *env, do func(*container.Container) error) error {
	if err := needArgs(cmd, 1, "NAME..."); err != nil {
		return err
	}
	return eachContainer(cmd, e, do)
}

func rmCommand() *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Usage:     "remove containers",
		ArgsUsage: "NAME...",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill a running container first"}, rmVolumesFlag()},
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			if err := needArgs(cmd, 1, "[-f] [-v] NAME..."); err != nil {
				return err
			}
			return eachContainer(cmd, e, func(c *container.Container) error {
				if err := e.runtime.Remove(c, cmd.Bool("force")); err != nil {
					return err
				}
				if cmd.Bool("volumes") {
					e.removeAnonymousVolumes(c.Config)
				}
				fmt.Println(c.Name())
				return nil
			})
		}),
	}
}

// namedContainer is the container the one argument names.
func (e *env) namedContainer(cmd *cli.Command, usage string) (*container.Container, error) {
	if cmd.Args().Len() != 1 {
		return nil, fmt.Errorf("usage: skiff %s %s (one container)", cmd.Name, usage)
	}
	return e.containers.Get(cmd.Args().First())
}

// eachContainer runs f for every NAME argument, going on after errors and
// printing them; it fails if any did.
func eachContainer(cmd *cli.Command, e *env, f func(*container.Container) error) error {
	failed := 0
	for _, name := range cmd.Args().Slice() {
		c, err := e.containers.Get(name)
		if err == nil {
			err = f(c)
		}
		if err != nil {
			failed++
			if cmd.Args().Len() == 1 {
				return err
			}
			fmt.Fprintln(os.Stderr, "skiff:", err)
		}
	}
	if failed > 0 {
		return &exit.Error{Code: 1}
	}
	return nil
}

// inspection is what `skiff inspect` prints of a container.
type inspection struct {
	ID      string           `json:"id"`
	Name    string           `json:"name"`
	Status  container.Status `json:"status"`
	Broken  string           `json:"broken,omitempty"` // why its files cannot be read
	Paused  bool             `json:"paused,omitempty"`
	Config  container.Config `json:"config"`
	State   container.State  `json:"state"`
	Network struct {
		IP      string `json:"ip,omitempty"`
		Gateway string `json:"gateway,omitempty"`
		Network string `json:"network,omitempty"`
	} `json:"network"`
	Cgroup []string    `json:"cgroup"`
	Mounts []string    `json:"mounts"`
	Dir    string      `json:"dir"`
	Spec   *specs.Spec `json:"spec,omitempty"` // the configuration as an OCI runtime spec
}

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "print containers' configuration and state, as a JSON array (Docker's shape)",
		ArgsUsage: "NAME...",
		Flags: []cli.Flag{&cli.StringFlag{Name: "format", Aliases: []string{"f"},
			Usage: "print each container through a Go `TEMPLATE` over Docker's inspect fields ({{.State.Pid}}, {{.NetworkSettings.IPAddress}}...)"}},
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			if err := needArgs(cmd, 1, "NAME..."); err != nil {
				return err
			}
			if err := checkFormat(cmd.String("format")); err != nil {
				return err
			}
			all := []inspection{}
			var views []any
			err := eachContainer(cmd, e, func(c *container.Container) error {
				i := e.inspect(c)
				all = append(all, i)
				views = append(views, dockerInspect(i))
				return nil
			})
			if perr := printInspected(cmd.String("format"), all, views); perr != nil {
				return perr
			}
			return err
		}),
	}
}

// inspect is what `skiff inspect` prints of a container.
func (e *env) inspect(c *container.Container) inspection {
	out := inspection{ID: c.Config.ID, Name: c.Config.Name, Status: c.Status(), Broken: c.Broken, Config: c.Config, State: c.State,
		Cgroup: c.State.Cgroup, Dir: c.Dir, Paused: e.runtime.Paused(c)}
	if spec, err := e.runtime.LoadSpec(c); err == nil { // once started: what it runs with
		out.Spec = spec
	}
	out.Network.IP, out.Network.Network = c.State.IP, c.Config.Network.Name
	if n, err := e.networks.Get(c.Config.Network.Name); err == nil && c.State.IP != "" {
		out.Network.Gateway = n.Gateway
	}
	if c.State.Alive() {
		data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", c.State.Pid))
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if f := strings.Fields(line); len(f) > 4 {
				out.Mounts = append(out.Mounts, f[4])
			}
		}
	}
	return out
}

func humanSize(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}

func updateCommand() *cli.Command {
	return &cli.Command{
		Name:      "update",
		Usage:     "change containers' limits, at once if they run",
		ArgsUsage: "NAME...",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "memory", Aliases: []string{"m"}, Usage: "memory limit, e.g. 64m (0: none)"},
			&cli.FloatFlag{Name: "cpus", Usage: "CPU limit in CPUs, e.g. 0.5 (0: none)"},
			&cli.IntFlag{Name: "pids-limit", Usage: "most processes and threads at once (0: none)"},
		},
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			if !cmd.IsSet("memory") && !cmd.IsSet("cpus") && !cmd.IsSet("pids-limit") {
				return errors.New("update: give at least one of --memory, --cpus, --pids-limit")
			}
			asked, err := limitsFromFlags(cmd)
			if err != nil {
				return err
			}
			return eachNamed(cmd, e, func(c *container.Container) error {
				limits := c.Config.Limits
				if cmd.IsSet("memory") {
					limits.Memory = asked.Memory
				}
				if cmd.IsSet("cpus") {
					limits.CPUs = asked.CPUs
				}
				if cmd.IsSet("pids-limit") {
					limits.Pids = asked.Pids
				}
				// No claim: a running container's monitor owns it, and writes
				// only its state.json; container.json is written atomically.
				return e.runtime.Update(c, limits)
			})
		}),
	}
}
