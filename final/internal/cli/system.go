package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v3"

	"skiff/internal/cgroups"
	"skiff/internal/container"
	"skiff/internal/network"
)

func systemCommand() *cli.Command {
	return &cli.Command{
		Name:  "system",
		Usage: "maintenance",
		Commands: []*cli.Command{{
			Name:  "prune",
			Usage: "remove stopped and dead containers, and what runtimes killed with SIGKILL left behind",
			Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
				return e.prune()
			}),
		}},
	}
}

// prune removes every container that is neither running nor being
// started by a live runtime, whatever state its runtime left it in, then
// the leftovers no container owns any more: address allocations,
// published ports, NAT tables, cgroups (and their parent folder, if it is
// empty), and the tables and bridges of networks whose files were
// deleted.
func (e *env) prune() error {
	all, err := e.containers.List()
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, c := range all {
		if s := c.Status(); s == container.Running || s == container.Created {
			known[c.Config.ID] = true
			continue
		}
		if err := e.runtime.Remove(c, true); err != nil {
			return err
		}
		fmt.Println("removed", c.Config.Name)
	}
	nets, _ := e.networks.List()
	for _, n := range nets {
		for _, ep := range e.networks.Endpoints(n) {
			if !known[ep.ID] {
				e.networks.Detach(n, ep.ID, ep.IP)
				fmt.Println("released", ep.IP)
			}
		}
	}
	for _, t := range network.NATTables() {
		if !knownPrefix(known, strings.TrimPrefix(t, "skiff-")) {
			network.DeleteNATTable(t)
			fmt.Println("deleted nftables table", t)
		}
	}
	for _, name := range e.networks.RemoveOrphans() {
		fmt.Println("removed the bridge and nftables table of deleted network", name)
	}
	for _, dir := range cgroupDirs() {
		if id := filepath.Base(dir); !known[id] {
			cgroups.Open(container.CgroupParent, id).Destroy()
			fmt.Println("removed cgroup", id)
		}
	}
	cgroups.RemoveParent(container.CgroupParent)
	return nil
}

func knownPrefix(known map[string]bool, prefix string) bool {
	for id := range known {
		if strings.HasPrefix(id, prefix) {
			return true
		}
	}
	return false
}

// cgroupDirs lists the container cgroups, v2 and v1.
func cgroupDirs() []string {
	var dirs []string
	for _, pattern := range []string{"skiff/*", "*/skiff/*"} {
		m, _ := filepath.Glob(filepath.Join(cgroups.Root, pattern))
		for _, d := range m {
			if info, err := os.Stat(d); err == nil && info.IsDir() {
				dirs = append(dirs, d)
			}
		}
	}
	return dirs
}
