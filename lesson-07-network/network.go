package main

// A new network namespace has nothing but a loopback device that is down.
// The runtime wires it to the host:
//
//	container netns            host
//	  eth0 10.99.0.N/24 ===veth=== vethID --- bridge cfs0 10.99.0.1/24
//	  default via 10.99.0.1                    NAT: masquerade out, DNAT in
//
// Links and addresses are made over netlink, the kernel's socket API that
// `ip` uses too; the NAT rules are nftables rules, also sent over netlink.
// The parent does all of it before it releases the child, so the command
// starts with its network ready.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

const (
	bridgeName = "cfs0"
	// ipsDir holds one file per address in use, named after the address.
	ipsDir = "/run/containers-from-scratch/ips"
)

// subnet is the containers' network; the bridge is its gateway, .1.
var subnet = &net.IPNet{IP: net.IPv4(10, 99, 0, 0).To4(), Mask: net.CIDRMask(24, 32)}

func gateway() net.IP { return hostAddr(1) }

func hostAddr(n byte) net.IP { return net.IPv4(10, 99, 0, n).To4() }

// port is one --publish HOST_PORT:CTR_PORT.
type port struct{ host, ctr uint16 }

// parsePublish reads Docker's -p HOST_PORT:CTR_PORT (TCP).
func parsePublish(spec string) (port, error) {
	hostPort, ctrPort, ok := strings.Cut(strings.TrimSuffix(spec, "/tcp"), ":")
	h, err1 := strconv.ParseUint(hostPort, 10, 16)
	c, err2 := strconv.ParseUint(ctrPort, 10, 16)
	if !ok || err1 != nil || err2 != nil || h == 0 || c == 0 {
		return port{}, fmt.Errorf("--publish %q: want HOST_PORT:CTR_PORT, ports 1 to 65535", spec)
	}
	return port{uint16(h), uint16(c)}, nil
}

// network is what one container was given, to be taken back at exit.
type network struct {
	id       string
	ip       net.IP
	hostVeth string
}

// setupNetwork connects the network namespace of the process pid to the
// bridge, and publishes its ports. On error it undoes what it did.
func setupNetwork(id string, pid int, ports []port) (*network, error) {
	n := &network{id: id, hostVeth: "veth" + id[:8]}
	bridge, err := ensureBridge()
	if err != nil {
		return nil, err
	}
	if n.ip, err = allocateIP(ipsDir, id); err != nil {
		return nil, err
	}
	steps := []func() error{
		func() error { return createVeth(n.hostVeth, bridge, pid) },
		func() error { return configureContainerSide(pid, n.ip) },
		func() error { return addNATRules(id, n.ip, ports) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			n.teardown()
			return nil, err
		}
	}
	return n, nil
}

// ensureBridge creates the bridge with the gateway address, once. It stays
// when containers come and go, as docker0 does.
//
//exercise:07 create the bridge bridgeName with the gateway's address and bring it up (once: reuse it if it
//exercise:07 exists), and turn on ip_forward and the bridge's route_localnet; see "A bridge: the switch"
func ensureBridge() (netlink.Link, error) {
	if br, err := netlink.LinkByName(bridgeName); err == nil {
		return br, nil
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: bridgeName}}
	if err := netlink.LinkAdd(br); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("ip link add %s type bridge: %w", bridgeName, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: gateway(), Mask: subnet.Mask}}
	if err := netlink.AddrAdd(br, addr); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("ip addr add %s dev %s: %w", addr, bridgeName, err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return nil, fmt.Errorf("ip link set %s up: %w", bridgeName, err)
	}
	// Forward packets between the bridge and other interfaces (NAT needs
	// it), and let 127.0.0.1 be DNATed to a container (published ports).
	for file, value := range map[string]string{
		"/proc/sys/net/ipv4/ip_forward":                             "1",
		"/proc/sys/net/ipv4/conf/" + bridgeName + "/route_localnet": "1",
	} {
		if err := os.WriteFile(file, []byte(value), 0o644); err != nil {
			return nil, fmt.Errorf("sysctl %s: %w", file, err)
		}
	}
	return br, nil
}

// allocateIP takes the first free address of the subnet. Creating its
// file with O_EXCL is atomic, so two runtimes starting at once never get
// the same address.
func allocateIP(dir, id string) (net.IP, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for n := 2; n < 255; n++ {
		ip := hostAddr(byte(n))
		f, err := os.OpenFile(filepath.Join(dir, ip.String()), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		_, err = f.WriteString(id)
		f.Close()
		return ip, err
	}
	return nil, fmt.Errorf("no free address left in %s", subnet)
}

// releaseIP gives the address back, and removes the folders when it was
// the last one.
func releaseIP(dir string, ip net.IP) {
	os.Remove(filepath.Join(dir, ip.String()))
	os.Remove(dir)
	os.Remove(filepath.Dir(dir))
}

// createVeth makes a veth pair: one end on the host's bridge, the other,
// eth0, created straight inside the container's namespace. Moving an
// existing link between namespaces would cost a whole RCU grace period.
//
//exercise:07 add a veth pair with netlink: hostVeth on the bridge, its peer eth0 created inside the namespace
//exercise:07 of pid, and bring hostVeth up; see "Create the peer where it belongs"
func createVeth(hostVeth string, bridge netlink.Link, pid int) error {
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: hostVeth, MasterIndex: bridge.Attrs().Index},
		PeerName:      "eth0",
		PeerNamespace: netlink.NsPid(pid),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("ip link add %s type veth peer eth0 netns %d: %w", hostVeth, pid, err)
	}
	if err := netlink.LinkSetUp(veth); err != nil {
		return fmt.Errorf("ip link set %s up: %w", hostVeth, err)
	}
	return nil
}

// configureContainerSide sets up lo and eth0 inside the container's
// namespace, through a netlink socket opened in that namespace.
//
//exercise:07 through a netlink handle in the namespace of pid, bring lo and eth0 up, give eth0 the address
//exercise:07 ip, and add a default route via the gateway; see "Configure the container's side from the host"
func configureContainerSide(pid int, ip net.IP) error {
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
	for _, name := range []string{"lo", "eth0"} {
		link, err := h.LinkByName(name)
		if err == nil && name == "eth0" {
			err = h.AddrAdd(link, &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: subnet.Mask}})
		}
		if err == nil {
			err = h.LinkSetUp(link)
		}
		if err != nil {
			return fmt.Errorf("container %s: %w", name, err)
		}
	}
	eth0, _ := h.LinkByName("eth0")
	if err := h.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: gateway()}); err != nil {
		return fmt.Errorf("ip route add default via %s: %w", gateway(), err)
	}
	return nil
}

// addNATRules puts the container's NAT rules in an nftables table of its
// own, so that removing the table removes exactly its rules. In nft's words:
//
//	table ip cfs-ID {
//	  chain postrouting { type nat hook postrouting priority srcnat
//	    ip saddr IP oifname != "cfs0" masquerade           # out to the world
//	    ip daddr IP oifname "cfs0" ct status dnat masquerade # replies of published ports come back through us
//	  }
//	  chain prerouting { type nat hook prerouting priority dstnat
//	    fib daddr type local tcp dport HOST dnat to IP:CTR  # from other hosts and namespaces
//	  }
//	  chain output { type nat hook output priority dstnat
//	    fib daddr type local tcp dport HOST dnat to IP:CTR  # from this host itself
//	  }
//	  chain guard { type filter hook prerouting priority raw
//	    iifname "cfs0" ip daddr 127.0.0.0/8 drop  # see below
//	  }
//	}
//
// The guard matters: route_localnet, which lets published ports answer on
// 127.0.0.1, would otherwise let a container reach the host's services
// that listen on loopback only (CVE-2020-8558).
//
//exercise:07 make the nftables table natTable(id) with the rules in the comment above: masquerade going out,
//exercise:07 DNAT for each published port, and the guard; see "Going out: masquerade"
func addNATRules(id string, ip net.IP, ports []port) error {
	conn, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	table := conn.AddTable(&nftables.Table{Name: natTable(id), Family: nftables.TableFamilyIPv4})
	chain := func(name string, hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
		return conn.AddChain(&nftables.Chain{Name: name, Table: table, Type: nftables.ChainTypeNAT, Hooknum: hook, Priority: prio})
	}
	post := chain("postrouting", nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource)
	rule := func(c *nftables.Chain, exprs ...[]expr.Any) {
		conn.AddRule(&nftables.Rule{Table: table, Chain: c, Exprs: concat(exprs...)})
	}
	guard := conn.AddChain(&nftables.Chain{Name: "guard", Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRaw})
	rule(guard, matchIifname(), matchLoopbackDestination(), drop())
	rule(post, matchIP(12, ip), matchOifname(expr.CmpOpNeq), masquerade())
	if len(ports) > 0 {
		rule(post, matchIP(16, ip), matchOifname(expr.CmpOpEq), matchDNATed(), masquerade())
		pre := chain("prerouting", nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest)
		out := chain("output", nftables.ChainHookOutput, nftables.ChainPriorityNATDest)
		for _, p := range ports {
			for _, c := range []*nftables.Chain{pre, out} {
				rule(c, matchLocalDestination(), matchTCPPort(p.host), dnat(ip, p.ctr))
			}
		}
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("nft add table ip %s: %w", natTable(id), err)
	}
	return nil
}

func natTable(id string) string { return "cfs-" + id }

// The expressions below are nftables' bytecode: load a value into a
// register, compare it, and act.

// matchIP compares the IPv4 source (offset 12) or destination (16).
func matchIP(offset uint32, ip net.IP) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ip.To4()},
	}
}

// matchOifname compares the outgoing interface with the bridge.
func matchOifname(op expr.CmpOp) []expr.Any {
	name := make([]byte, unix.IFNAMSIZ)
	copy(name, bridgeName)
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: name},
	}
}

// matchIifname matches packets coming in from the bridge.
func matchIifname() []expr.Any {
	name := make([]byte, unix.IFNAMSIZ)
	copy(name, bridgeName)
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: name},
	}
}

// matchLoopbackDestination matches packets for 127.0.0.0/8.
func matchLoopbackDestination() []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte{255, 0, 0, 0}, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{127, 0, 0, 0}},
	}
}

func drop() []expr.Any { return []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}} }

// matchDNATed matches connections whose destination was rewritten.
func matchDNATed() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(0x20), Xor: make([]byte, 4)}, // IPS_DST_NAT
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

// matchLocalDestination matches packets addressed to one of this host's
// own addresses, whichever interface it is on.
func matchLocalDestination() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
}

func matchTCPPort(p uint16) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(p)},
	}
}

func dnat(ip net.IP, p uint16) []expr.Any {
	return []expr.Any{
		&expr.Immediate{Register: 1, Data: ip.To4()},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(p)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	}
}

func masquerade() []expr.Any { return []expr.Any{&expr.Masq{}} }

func concat(parts ...[]expr.Any) []expr.Any {
	var all []expr.Any
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

// teardown takes back what setupNetwork gave. The veth pair would also go
// when the container's namespace is destroyed, but asynchronously: delete
// it now, so that nothing is left when the runtime exits.
func (n *network) teardown() {
	if conn, err := nftables.New(); err == nil {
		conn.DelTable(&nftables.Table{Name: natTable(n.id), Family: nftables.TableFamilyIPv4})
		conn.Flush() // fails harmlessly if the table was never made
	}
	if link, err := netlink.LinkByName(n.hostVeth); err == nil {
		netlink.LinkDel(link)
	}
	releaseIP(ipsDir, n.ip)
}
