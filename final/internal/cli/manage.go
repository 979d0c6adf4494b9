package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v3"

	"skiff/internal/cgroups"
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
		},
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			all, err := e.containers.List()
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
			if !cmd.Bool("quiet") {
				fmt.Fprintln(w, "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES")
			}
			for _, c := range all {
				status := c.Status()
				if status != container.Running && !cmd.Bool("all") {
					continue
				}
				if cmd.Bool("quiet") {
					fmt.Fprintln(w, c.Config.ID[:12])
					continue
				}
				if !c.ConfigKnown() {
					fmt.Fprintf(w, "%s\t\t\t\t%s\t\t%s\n", c.Config.ID[:12], e.describeStatus(c, status), c.Name())
					continue
				}
				fmt.Fprintf(w, "%s\t%s\t%q\t%s ago\t%s\t%s\t%s\n", c.Config.ID[:12], c.Config.Image,
					truncate(strings.Join(c.Config.Process.Args, " "), 20), since(c.Config.Created),
					e.describeStatus(c, status), ports(c), c.Config.Name)
			}
			return w.Flush()
		}),
	}
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
	for _, p := range c.Config.Network.Ports {
		out = append(out, fmt.Sprintf("0.0.0.0:%d->%d/tcp", p.Host, p.Container))
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

func logsCommand() *cli.Command {
	return &cli.Command{
		Name:      "logs",
		Usage:     "print the output of a detached container",
		ArgsUsage: "NAME",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing until the container exits"}},
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			c, err := e.namedContainer(cmd, "[-f] NAME")
			if err != nil {
				return err
			}
			log, err := os.Open(c.Path("log"))
			if err != nil {
				return fmt.Errorf("container %s has no log: only detached containers (-d) keep one", c.Name())
			}
			defer log.Close()
			for {
				io.Copy(os.Stdout, log)
				if !cmd.Bool("follow") || c.Reload() != nil || c.Status() != container.Running {
					io.Copy(os.Stdout, log)
					return nil
				}
				time.Sleep(100 * time.Millisecond)
			}
		}),
	}
}

func stopCommand() *cli.Command {
	return &cli.Command{
		Name:      "stop",
		Usage:     "stop containers: SIGTERM, then SIGKILL after a timeout",
		ArgsUsage: "NAME...",
		Flags:     []cli.Flag{&cli.IntFlag{Name: "time", Aliases: []string{"t"}, Value: 10, Usage: "seconds to wait before SIGKILL"}},
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
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
				fmt.Println(c.Name())
				return nil
			})
		}),
	}
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
	if err := needArgs(cmd, 1, "NAME..."); err != nil {
		return err
	}
	return eachContainer(cmd, e, func(c *container.Container) error {
		if err := do(c); err != nil {
			return err
		}
		fmt.Println(c.Name())
		return nil
	})
}

func rmCommand() *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Usage:     "remove containers",
		ArgsUsage: "NAME...",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill a running container first"}},
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			if err := needArgs(cmd, 1, "[-f] NAME..."); err != nil {
				return err
			}
			return eachContainer(cmd, e, func(c *container.Container) error {
				if err := e.runtime.Remove(c, cmd.Bool("force")); err != nil {
					return err
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
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			if err := needArgs(cmd, 1, "NAME..."); err != nil {
				return err
			}
			all := []inspection{}
			err := eachContainer(cmd, e, func(c *container.Container) error {
				all = append(all, e.inspect(c))
				return nil
			})
			data, _ := json.MarshalIndent(all, "", "  ")
			fmt.Println(string(data))
			return err
		}),
	}
}

// inspect is what `skiff inspect` prints of a container.
func (e *env) inspect(c *container.Container) inspection {
	out := inspection{ID: c.Config.ID, Name: c.Config.Name, Status: c.Status(), Broken: c.Broken, Config: c.Config, State: c.State,
		Cgroup: c.State.Cgroup, Dir: c.Dir}
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

func statsCommand() *cli.Command {
	return &cli.Command{
		Name:      "stats",
		Usage:     "print containers' memory, CPU and process counts, read from their cgroups",
		ArgsUsage: "NAME...",
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			if err := needArgs(cmd, 1, "NAME..."); err != nil {
				return err
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
			fmt.Fprintln(w, "NAME\tCPU TIME\tMEM USAGE / LIMIT\tPIDS\tOOM KILLS")
			err := eachContainer(cmd, e, func(c *container.Container) error {
				if c.Status() != container.Running {
					return fmt.Errorf("container %s is not running", c.Name())
				}
				s, err := cgroups.Open(e.runtime.CgroupParent, c.Config.ID).Stats()
				if err != nil {
					return fmt.Errorf("read the cgroup of %s: %w", c.Name(), err)
				}
				fmt.Fprintf(w, "%s\t%s\t%s / %s\t%d\t%d\n", c.Name(), time.Duration(s.CPUUsec)*time.Microsecond,
					humanSize(int64(s.MemoryUsage)), limitText(s.MemoryLimit), s.Pids, s.OOMKills)
				return nil
			})
			w.Flush()
			return err
		}),
	}
}

func limitText(n uint64) string {
	if n == 0 {
		return "no limit"
	}
	return humanSize(int64(n))
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
