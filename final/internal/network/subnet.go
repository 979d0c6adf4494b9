package network

import (
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"skiff/internal/safefile"
)

// hostLock serializes, between every instance of skiff on the host, the
// choices that must be unique on it: a new network's subnet and bridge,
// and the making of a bridge. Each instance checks what the others hold
// on the host (addresses, routes, links) and takes it, under this lock.
var hostLock = "/run/skiff-network.lock"

func lockHost() (unlock func(), err error) { return safefile.Lock(hostLock, unix.LOCK_EX) }

// usedNet is a subnet taken, and what takes it, for error messages.
type usedNet struct {
	ipnet *net.IPNet
	by    string
}

// hostNets lists the IPv4 subnets in use on the host: those of the
// interfaces' addresses and of the routes, less the default route. A
// bridge on one of them would take its traffic, or give its own away.
func hostNets() ([]usedNet, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("ip link: %w", err)
	}
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("ip addr: %w", err)
	}
	var used []usedNet
	for _, a := range addrs {
		used = append(used, usedNet{&net.IPNet{IP: a.IP.Mask(a.Mask), Mask: a.Mask},
			fmt.Sprintf("the address %s of %s", a.IPNet, names[a.LinkIndex])})
	}
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("ip route: %w", err)
	}
	for _, r := range routes {
		if r.Dst == nil {
			continue // the default route
		}
		if ones, _ := r.Dst.Mask.Size(); ones > 0 {
			used = append(used, usedNet{r.Dst, fmt.Sprintf("the route to %s via %s", r.Dst, names[r.LinkIndex])})
		}
	}
	return used, nil
}

// checkFree fails if subnet overlaps one of used.
func checkFree(subnet *net.IPNet, used []usedNet) error {
	for _, u := range used {
		if u.ipnet.Contains(subnet.IP) || subnet.Contains(u.ipnet.IP) {
			return fmt.Errorf("subnet %s overlaps %s", subnet, u.by)
		}
	}
	return nil
}

// freeSubnet picks the first /24 that overlaps nothing used: for the
// default network 10.77.N.0/24 upward (10.77.0.0/24 for the first
// instance on the host), for the others 10.N.0.0/24 from 10.78.
func freeSubnet(name string, used []usedNet) (string, error) {
	candidate := func(i int) string { return fmt.Sprintf("10.%d.0.0/24", 78+i) }
	count := 254 - 78 + 1
	if name == DefaultName {
		candidate, count = func(i int) string { return fmt.Sprintf("10.77.%d.0/24", i) }, 256
	}
	for i := range count {
		_, ipnet, _ := net.ParseCIDR(candidate(i))
		if checkFree(ipnet, used) == nil {
			return ipnet.String(), nil
		}
	}
	return "", fmt.Errorf("network %s: no free subnet left, from %s to %s: give one with --subnet", name, candidate(0), candidate(count-1))
}
