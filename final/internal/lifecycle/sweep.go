package lifecycle

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"skiff/internal/cgroups"
	"skiff/internal/network"
)

// SweepLeftovers removes what belongs to no container folder: address
// allocations, published ports, NAT tables, cgroups and what
// networks whose file was deleted left behind, then the parent cgroup
// folder if it is empty. A container's folder is made before any of
// these, so each is listed before the folders are: a container being
// created meanwhile is never taken for gone. It reports each thing it
// removed, or failed to, in a line.
func (r *Runtime) SweepLeftovers(report func(string)) {
	nets, _ := r.Networks.List()
	endpoints := map[*network.Network][]network.Endpoint{}
	for _, n := range nets {
		endpoints[n] = r.Networks.Endpoints(n)
	}
	tables := r.Networks.NATTables()
	portHolders := r.Networks.PortHolders()
	cgroupIDs := containerCgroups(r.CgroupParent)
	owned := r.Store.IDs()
	for n, eps := range endpoints {
		for _, ep := range eps {
			if !owned[ep.ID] {
				r.Networks.Detach(n, ep.ID, ep.IP)
				report("released " + ep.IP)
			}
		}
	}
	for _, id := range portHolders { // killed between taking its ports and its address
		if !owned[id] {
			r.Networks.DetachContainer(id)
			report(fmt.Sprintf("released the ports of %.12s", id))
		}
	}
	for _, t := range tables {
		if !ownedPrefix(owned, t.ID) {
			network.DeleteNATTable(t)
			report("deleted nftables table " + t.Name)
		}
	}
	for _, id := range cgroupIDs {
		if owned[id] {
			continue
		}
		if err := cgroups.Open(r.CgroupParent, id).Destroy(); err != nil {
			report(err.Error())
		} else {
			report("removed cgroup " + id)
		}
	}
	for _, name := range r.Networks.RemoveOrphans(func(id string) bool { return owned[id] }) {
		report("removed the folder, bridge and nftables table of deleted network " + name)
	}
	cgroups.RemoveParent(r.CgroupParent)
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
