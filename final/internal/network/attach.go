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

	"skiff/internal/safefile"
)

// Port is one published TCP port.
type Port struct{ Host, Container uint16 }

// Attachment is what a container was given on a network.
type Attachment struct {
	IP       string
	HostVeth string
}

// Attach connects the network namespace of process pid to network n:
// a veth pair with eth0 created inside the namespace, an address, a
// default route, NAT out and the published ports in. The container's name
// goes into the /etc/hosts of every container on the network. On error it
// undoes what it did.
func (s *Store) Attach(n *Network, pid int, ep Endpoint, ports []Port) (*Attachment, error) {
	bridge, err := s.ensureBridge(n)
	if err != nil {
		return nil, err
	}
	if err := s.reservePorts(ep.ID, ports); err != nil {
		return nil, err
	}
	ip, err := s.allocate(n, ep)
	if err != nil {
		s.releasePorts(ep.ID)
		return nil, err
	}
	a := &Attachment{IP: ip.String(), HostVeth: "veth" + ep.ID[:8]}
	steps := []func() error{
		func() error { return createVeth(a.HostVeth, bridge, pid) },
		func() error { return configureInside(pid, ip, n) },
		func() error { return addPortRules(ep.ID, ip, ports) },
		func() error { return s.WriteHosts(n) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
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
// container holds ports: even a failed deletion waits as long.
func (s *Store) Detach(n *Network, id, ip string) {
	if len(s.portFiles(id)) > 0 {
		deletePortRules(id) // before the ports are free for another
	}
	s.releasePorts(id)
	s.release(n, ip)
	s.WriteHosts(n)
}

// ensureBridge makes the network's bridge and nftables table, unless they
// are there (the first container on a network makes them, and they stay),
// and returns the bridge's interface index.
func (s *Store) ensureBridge(n *Network) (int, error) {
	if index, err := linkIndex(n.Bridge); err == nil && hasNetworkTable(n) {
		return index, nil
	}
	unlock, err := safefile.Lock(filepath.Join(s.Root, "lock"), unix.LOCK_EX)
	if err != nil {
		return 0, err
	}
	defer unlock()
	if !hasNetworkTable(n) {
		if err := addNetworkTable(n); err != nil {
			return 0, err
		}
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: n.Bridge}}
	if err := netlink.LinkAdd(br); err != nil && !errors.Is(err, unix.EEXIST) {
		return 0, fmt.Errorf("ip link add %s type bridge: %w", n.Bridge, err)
	}
	link, err := netlink.LinkByName(n.Bridge)
	if err != nil {
		return 0, err
	}
	ipnet := n.ipnet()
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP(n.Gateway), Mask: ipnet.Mask}}
	if err := netlink.AddrAdd(link, addr); err != nil && !errors.Is(err, unix.EEXIST) {
		return 0, fmt.Errorf("ip addr add %s dev %s: %w", addr, n.Bridge, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return 0, fmt.Errorf("ip link set %s up: %w", n.Bridge, err)
	}
	// Forward between the bridge and other interfaces (NAT needs it), and
	// let 127.0.0.1 be DNATed to a container (published ports).
	for file, value := range map[string]string{
		"/proc/sys/net/ipv4/ip_forward":                           "1",
		"/proc/sys/net/ipv4/conf/" + n.Bridge + "/route_localnet": "1",
	} {
		if err := os.WriteFile(file, []byte(value), 0o644); err != nil {
			return 0, fmt.Errorf("sysctl %s: %w", file, err)
		}
	}
	return link.Attrs().Index, nil
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

// createVeth makes the pair with eth0 created straight inside the
// container's namespace (moving a link costs an RCU grace period), and
// its host end up.
func createVeth(hostVeth string, bridge int, pid int) error {
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: hostVeth, MasterIndex: bridge, Flags: net.FlagUp},
		PeerName:      "eth0",
		PeerNamespace: netlink.NsPid(pid),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("ip link add %s up type veth peer eth0 netns %d, on the bridge of index %d: %w", hostVeth, pid, bridge, err)
	}
	return nil
}

// configureInside gives eth0 its address, brings it up and adds the
// default route (the container's init brings lo up itself).
func configureInside(pid int, ip net.IP, n *Network) error {
	return inNamespace(pid, func(h *netlink.Handle) error {
		eth0, err := h.LinkByName("eth0")
		if err == nil {
			err = h.AddrAdd(eth0, &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: n.ipnet().Mask}})
		}
		if err == nil {
			err = h.LinkSetUp(eth0)
		}
		if err != nil {
			return fmt.Errorf("container eth0: %w", err)
		}
		if err := h.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: net.ParseIP(n.Gateway)}); err != nil {
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

// WriteHosts rewrites the /etc/hosts of every container on the network,
// so that they reach each other by name. The files are rewritten in
// place: each is bind-mounted into its container, and a rename would
// leave the mount on the old file.
func (s *Store) WriteHosts(n *Network) error {
	eps := s.Endpoints(n)
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	for _, ep := range eps {
		fmt.Fprintf(&b, "%s\t%s %s\n", ep.IP, ep.Name, ep.ID[:12])
	}
	for _, ep := range eps {
		if err := os.WriteFile(ep.HostsFile, []byte(b.String()), 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// reservePorts takes the host ports, one O_EXCL file each under
// ROOT/ports: two containers cannot publish the same port.
func (s *Store) reservePorts(id string, ports []Port) error {
	dir := filepath.Join(s.Root, "ports")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, p := range ports {
		file := filepath.Join(dir, strconv.Itoa(int(p.Host)))
		f, err := os.OpenFile(file, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if errors.Is(err, os.ErrExist) {
			owner, _ := os.ReadFile(file)
			s.releasePorts(id)
			return fmt.Errorf("port %d is already published by container %.12s", p.Host, owner)
		}
		if err != nil {
			s.releasePorts(id)
			return err
		}
		f.WriteString(id)
		f.Close()
	}
	return nil
}

// releasePorts gives back every host port container id holds.
func (s *Store) releasePorts(id string) {
	for _, f := range s.portFiles(id) {
		os.Remove(f)
	}
}

// portFiles are the reservations of container id's host ports.
func (s *Store) portFiles(id string) []string {
	files, _ := filepath.Glob(filepath.Join(s.Root, "ports", "*"))
	var held []string
	for _, f := range files {
		if owner, _ := os.ReadFile(f); string(owner) == id {
			held = append(held, f)
		}
	}
	return held
}
