package network

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Attachment is what a container was given on a network.
type Attachment struct {
	IP       string
	HostVeth string
	Ports    []Port     // the published ports, with the host ports chosen for those that had none
	ports    []*os.File // the sockets that hold its host ports
}

// Close lets go of the host ports, once the container is gone (the
// kernel does it too when the process that attached the container dies).
func (a *Attachment) Close() {
	if a != nil {
		closeAll(a.ports)
	}
}

// Attach connects the network namespace of process pid to network n:
// a veth pair with eth0 created inside the namespace, an address (ep.IP
// if it is set, else the first free one), a default route, NAT out and
// the published ports in. The container's name goes into the /etc/hosts
// of every container on a user-defined network. On error it undoes what
// it did. The caller closes the Attachment when the container ends.
func (s *Store) Attach(n *Network, pid int, ep Endpoint, ports []Port) (*Attachment, error) {
	bridge, err := s.ensureBridge(n)
	if err != nil {
		return nil, err
	}
	chosen, held, err := s.publish(ep.ID, ports)
	if err != nil {
		return nil, err
	}
	ip, err := s.allocate(n, ep)
	if err != nil {
		closeAll(held)
		s.releasePorts(ep.ID)
		return nil, err
	}
	a := &Attachment{IP: ip.String(), HostVeth: "veth" + ep.ID[:8], Ports: chosen, ports: held}
	steps := []func() error{
		func() error { return createVeth(a.HostVeth, "eth0", bridge, pid, len(ports) > 0) },
		func() error { return configureInside(pid, "eth0", ip, n, true) },
		func() error { return s.addPortRules(ep.ID, ip, chosen) },
		func() error { return s.refreshHosts(n, ep) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			a.Close()
			s.Detach(n, ep.ID, a.IP)
			return nil, err
		}
	}
	return a, nil
}

// Detach takes back what Attach gave. Safe to call twice, and on a
// container whose runtime died: each step ignores what is already gone.
// The veth pair is not deleted here: the kernel deletes it when the
// container's network namespace dies with its last process, and deleting
// it ourselves would wait for an RCU grace period, ~15 ms, on the path of
// every `skiff run`. The port rules' table is deleted only if the
// container holds ports: even a failed deletion waits as long. The
// networks the container was connected to later go too (Connect).
func (s *Store) Detach(n *Network, id, ip string) {
	if len(s.portFiles(id)) > 0 {
		s.deletePortRules(id) // before the ports are free for another
	}
	s.releasePorts(id)
	s.release(n, id, ip)
	s.refreshHosts(n, Endpoint{ID: id})
	s.detachConnected(id)
}

// DetachContainer is Detach for a container whose configuration cannot
// be read: it finds the addresses container id holds in every network of
// this instance (even one whose file was deleted) by their files, and
// takes them back with its host ports and port rules.
func (s *Store) DetachContainer(id string) {
	if len(id) < 12 {
		return
	}
	s.deletePortRules(id)
	s.releasePorts(id)
	os.Remove(s.connectedFile(id))
	dirs, _ := filepath.Glob(filepath.Join(s.Root, "*", "ips"))
	for _, d := range dirs {
		n := &Network{Name: filepath.Base(filepath.Dir(d))}
		held := false
		for _, ep := range s.Endpoints(n) {
			if ep.ID == id {
				s.release(n, id, ep.IP)
				held = true
			}
		}
		if held {
			s.refreshHosts(n, Endpoint{ID: id})
		}
	}
}

// ensureBridge makes the network's bridge and nftables table, unless they
// are there (the first container on a network makes them, and they stay),
// and returns the bridge's interface index.
func (s *Store) ensureBridge(n *Network) (int, error) {
	if alias, _ := linkAlias(n.Bridge); alias == s.bridgeAlias(n.Name) && s.hasNetworkTable(n) {
		if index, err := linkIndex(n.Bridge); err == nil {
			return index, nil
		}
	}
	unlock, err := lockHost()
	if err != nil {
		return 0, err
	}
	defer unlock()
	return s.setUpBridge(n)
}

// setUpBridge is ensureBridge under the host's lock. A bridge it makes
// must not take a subnet that another instance took meanwhile (after a
// reboot, the first to start a container gets it), and a link of the
// bridge's name that another instance made is not this network's.
func (s *Store) setUpBridge(n *Network) (int, error) {
	link, err := s.ownBridge(n)
	if err != nil {
		return 0, err
	}
	if link == nil {
		if link, err = s.addBridge(n); err != nil {
			return 0, err
		}
	}
	if !s.hasNetworkTable(n) {
		if err := s.addNetworkTable(n); err != nil {
			return 0, err
		}
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP(n.Gateway), Mask: n.ipnet().Mask}}
	if err := netlink.AddrAdd(link, addr); err != nil && !errors.Is(err, unix.EEXIST) {
		return 0, fmt.Errorf("ip addr add %s dev %s: %w", addr, n.Bridge, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return 0, fmt.Errorf("ip link set %s up: %w", n.Bridge, err)
	}
	// Let 127.0.0.1 be DNATed to a container (published ports), and
	// forward between the bridge and other interfaces (NAT needs it).
	localnet := "/proc/sys/net/ipv4/conf/" + n.Bridge + "/route_localnet"
	if err := os.WriteFile(localnet, []byte("1"), 0o644); err != nil {
		return 0, fmt.Errorf("sysctl %s: %w", localnet, err)
	}
	if err := s.enableForwarding(); err != nil {
		return 0, err
	}
	return link.Attrs().Index, nil
}

// ownBridge returns the network's bridge, nil if there is none, or an
// error if a link of its name is not its own. A bridge made before
// bridges had an alias is its own if it holds the network's gateway.
func (s *Store) ownBridge(n *Network) (netlink.Link, error) {
	link, err := netlink.LinkByName(n.Bridge)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ip link show %s: %w", n.Bridge, err)
	}
	alias := link.Attrs().Alias
	if alias == s.bridgeAlias(n.Name) {
		return link, nil
	}
	if alias == "" && link.Type() == "bridge" && hasAddress(link, n.Gateway) {
		if err := netlink.LinkSetAlias(link, s.bridgeAlias(n.Name)); err != nil {
			return nil, fmt.Errorf("ip link set %s alias: %w", n.Bridge, err)
		}
		return link, nil
	}
	return nil, fmt.Errorf("network %s: the link %s is not its bridge (alias %q): another skiff's, or not skiff's", n.Name, n.Bridge, alias)
}

// ownsBridge tells whether the network's bridge is there and its own.
func (s *Store) ownsBridge(n *Network) bool {
	link, err := s.ownBridge(n)
	return link != nil && err == nil
}

func hasAddress(link netlink.Link, ip string) bool {
	addrs, _ := netlink.AddrList(link, netlink.FAMILY_V4)
	for _, a := range addrs {
		if a.IP.String() == ip {
			return true
		}
	}
	return false
}

// addBridge makes the network's bridge, marked as its own, once it is
// sure that nothing on the host holds its subnet.
func (s *Store) addBridge(n *Network) (netlink.Link, error) {
	used, err := hostNets()
	if err != nil {
		return nil, err
	}
	if err := checkFree(n.ipnet(), used); err != nil {
		return nil, fmt.Errorf("network %s: %w: remove that, or this network", n.Name, err)
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: n.Bridge}}
	if err := netlink.LinkAdd(br); err != nil {
		return nil, fmt.Errorf("ip link add %s type bridge: %w", n.Bridge, err)
	}
	// The kernel ignores an alias given with the new link: set it after.
	if err := netlink.LinkSetAlias(br, s.bridgeAlias(n.Name)); err != nil {
		netlink.LinkDel(br)
		return nil, fmt.Errorf("ip link set %s alias: %w", n.Bridge, err)
	}
	link, err := netlink.LinkByName(n.Bridge)
	if err != nil {
		return nil, fmt.Errorf("ip link show %s: %w", n.Bridge, err)
	}
	return link, nil
}

// linkIndex reads an interface's index from sysfs: a small file, where a
// netlink request would bring back and decode every attribute of the link.
func linkIndex(name string) (int, error) {
	data, err := os.ReadFile("/sys/class/net/" + name + "/ifindex")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(data)))
}

// createVeth makes the pair with its end peer (eth0, eth1...) created
// straight inside the container's namespace (moving a link costs an RCU
// grace period), and its host end up.
func createVeth(hostVeth, peer string, bridge int, pid int, hairpin bool) error {
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: hostVeth, MasterIndex: bridge, Flags: net.FlagUp},
		PeerName:      peer,
		PeerNamespace: netlink.NsPid(pid),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("ip link add %s up type veth peer %s netns %d, on the bridge of index %d: %w", hostVeth, peer, pid, bridge, err)
	}
	if !hairpin {
		return nil
	}
	// A container that reaches its own published port through the host
	// sends packets that the DNAT turns back to it: the bridge must be
	// allowed to send a frame out of the port it came in by.
	link, err := netlink.LinkByName(hostVeth)
	if err == nil {
		err = netlink.LinkSetHairpin(link, true)
	}
	if err != nil {
		return fmt.Errorf("bridge link set dev %s hairpin on: %w", hostVeth, err)
	}
	return nil
}

// configureInside gives the interface iface its address and brings it
// up, and on the container's first network adds the default route (the
// container's init brings lo up itself). A network connected later gets
// only the route to its subnet, as in Docker.
func configureInside(pid int, iface string, ip net.IP, n *Network, defaultRoute bool) error {
	return inNamespace(pid, func(h *netlink.Handle) error {
		link, err := h.LinkByName(iface)
		if err == nil {
			err = h.AddrAdd(link, &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: n.ipnet().Mask}})
		}
		if err == nil {
			err = h.LinkSetUp(link)
		}
		if err != nil {
			return fmt.Errorf("container %s: %w", iface, err)
		}
		if !defaultRoute {
			return nil
		}
		if err := h.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index, Gw: net.ParseIP(n.Gateway)}); err != nil {
			return fmt.Errorf("ip route add default via %s: %w", n.Gateway, err)
		}
		return nil
	})
}

// inNamespace runs f with a netlink socket opened in pid's network namespace.
func inNamespace(pid int, f func(*netlink.Handle) error) error {
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return fmt.Errorf("open /proc/%d/ns/net: %w", pid, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink socket in /proc/%d/ns/net: %w", pid, err)
	}
	defer h.Close()
	return f(h)
}

const ipForward = "/proc/sys/net/ipv4/ip_forward"

// enableForwarding turns on IPv4 forwarding, which NAT needs, and says so
// on s.Notice the first time: it is a setting of the whole host, not of
// skiff's bridges alone, and the host routes between all its interfaces
// from then on (Docker does the same, as quietly).
func (s *Store) enableForwarding() error {
	if on, err := os.ReadFile(ipForward); err == nil && strings.TrimSpace(string(on)) == "1" {
		return nil
	}
	if err := os.WriteFile(ipForward, []byte("1"), 0o644); err != nil {
		return fmt.Errorf("sysctl %s: %w", ipForward, err)
	}
	if s.Notice != nil {
		fmt.Fprintln(s.Notice, "skiff: turned on IPv4 forwarding for the whole host (net.ipv4.ip_forward=1): containers' NAT needs it")
	}
	return nil
}
