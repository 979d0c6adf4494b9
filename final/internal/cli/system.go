package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v3"

	"skiff/internal/cgroups"
	"skiff/internal/network"
)

func systemCommand() *cli.Command {
	return &cli.Command{
		Name:  "system",
		Usage: "maintenance",
		Commands: []*cli.Command{{
			Name:  "prune",
			Usage: "remove stopped, dead and broken containers, the layers no image uses, and what runtimes killed with SIGKILL left behind",
			Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
				return e.prune()
			}),
		}},
	}
}

// prune removes every container that is neither running nor being
// started or monitored by a live skiff, whatever state its runtime left
// it in, then sweeps the leftovers no container owns any more.
func (e *env) prune() error {
	removed, err := e.runtime.Prune()
	for _, name := range removed {
		fmt.Println("removed", name)
	}
	if err != nil {
		return err
	}
	e.sweepLeftovers()
	layers, err := e.removeUnusedLayers()
	for _, id := range layers {
		fmt.Println("deleted layer", id)
	}
	return err
}

// sweepLeftovers removes what belongs to no container folder: address
// allocations, published ports, NAT tables, cgroups and what
// networks whose file was deleted left behind, then the parent cgroup
// folder if it is empty. A container's folder is made before any of
// these, so each is listed before the folders are: a container being
// created meanwhile is never taken for gone.
func (e *env) sweepLeftovers() {
	nets, _ := e.networks.List()
	endpoints := map[*network.Network][]network.Endpoint{}
	for _, n := range nets {
		endpoints[n] = e.networks.Endpoints(n)
	}
	tables := e.networks.NATTables()
	portHolders := e.networks.PortHolders()
	cgroupIDs := containerCgroups(e.runtime.CgroupParent)
	owned := e.containers.IDs()
	for n, eps := range endpoints {
		for _, ep := range eps {
			if !owned[ep.ID] {
				e.networks.Detach(n, ep.ID, ep.IP)
				fmt.Println("released", ep.IP)
			}
		}
	}
	for _, id := range portHolders { // killed between taking its ports and its address
		if !owned[id] {
			e.networks.DetachContainer(id)
			fmt.Printf("released the ports of %.12s\n", id)
		}
	}
	for _, t := range tables {
		if !ownedPrefix(owned, t.ID) {
			network.DeleteNATTable(t)
			fmt.Println("deleted nftables table", t.Name)
		}
	}
	for _, id := range cgroupIDs {
		if owned[id] {
			continue
		}
		if err := cgroups.Open(e.runtime.CgroupParent, id).Destroy(); err != nil {
			fmt.Fprintln(os.Stderr, "skiff:", err)
		} else {
			fmt.Println("removed cgroup", id)
		}
	}
	for _, name := range e.networks.RemoveOrphans(func(id string) bool { return owned[id] }) {
		fmt.Println("removed the folder, bridge and nftables table of deleted network", name)
	}
	cgroups.RemoveParent(e.runtime.CgroupParent)
}

// ownedPrefix tells whether an ID in owned starts with prefix: NAT tables
// are named after the first 12 digits of their container's ID.
func ownedPrefix(owned map[string]bool, prefix string) bool {
	for id := range owned {
		if strings.HasPrefix(id, prefix) {
			return true
		}
	}
	return false
}

// containerCgroups lists the IDs of the containers that have cgroups
// under parent, v2 and v1 (where each container has a folder in several
// hierarchies: each ID once).
func containerCgroups(parent string) []string {
	seen := map[string]bool{}
	var ids []string
	for _, pattern := range []string{parent + "/*", "*/" + parent + "/*"} {
		m, _ := filepath.Glob(filepath.Join(cgroups.Root, pattern))
		for _, d := range m {
			if info, err := os.Stat(d); err == nil && info.IsDir() && !seen[filepath.Base(d)] {
				seen[filepath.Base(d)] = true
				ids = append(ids, filepath.Base(d))
			}
		}
	}
	return ids
}
