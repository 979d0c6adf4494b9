package network

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Each network has an nftables table of its own, made with its bridge
// and kept as long as the network: NAT out for its whole subnet, a guard,
// and its isolation from the other networks. Each container that
// publishes ports gets one more table, which goes with it in one atomic
// deletion. In nft's words (lesson 07 explains the rules), with P the
// instance's prefix, "skiff-" or "skiffTAG-" (see names.go):
//
//	table ip P-net-NAME {
//	  chain postrouting { type nat hook postrouting priority srcnat
//	    ip saddr SUBNET oifname != BRIDGE masquerade
//	    ip daddr SUBNET oifname BRIDGE ct status dnat masquerade
//	  }
//	  chain guard { type filter hook prerouting priority raw
//	    iifname BRIDGE ip daddr 127.0.0.0/8 drop
//	  }
//	  chain isolation { type filter hook forward priority filter
//	    iifname BRIDGE oifname != BRIDGE oifname "skiff*" ct status dnat accept
//	    iifname BRIDGE oifname != BRIDGE oifname "skiff*" drop
//	  }
//	}
//	table ip P-ID {
//	  chain prerouting { type nat hook prerouting priority dstnat
//	    fib daddr type local tcp dport HOST dnat to IP:CTR      (-p HOST:CTR)
//	    ip daddr HOSTIP udp dport HOST dnat to IP:CTR           (-p HOSTIP:HOST:CTR/udp)
//	  }
//	  chain output { type nat hook output priority dstnat
//	    the same rules
//	  }
//	}
//
// (P-net-NAME is P+"net-"+NAME, P-ID is P+ID[:12].)
//
// Rules for the subnet rather than for each address, as Docker has them,
// mean that a container without published ports changes nothing in
// nftables. That matters for speed: a batch that deletes anything leaves
// the kernel work that waits for an RCU grace period, and closing the
// netlink socket waits for that work (nft_rcv_nl_event), ~7 ms here.
//
// The guard matters: route_localnet, set on the bridge so that published
// ports answer on 127.0.0.1, would otherwise let a container reach the
// host's services that listen on loopback only (CVE-2020-8558).
//
// So does the isolation: the host routes between its bridges, so without
// it a container reaches every other network's containers (Docker's
// DOCKER-ISOLATION chains drop that traffic). What a network sends to
// another bridge, of any skiff (they are all named skiff*), is dropped,
// but for the connections to a published port: those were DNATed, and
// their replies belong to the same connection. Traffic inside the bridge
// and out to the world is left alone. An accept ends only this chain:
// the other networks' chains still see the packet, and each drops only
// what comes from its own bridge.

const isolationChain = "isolation"

func (s *Store) networkTable(name string) *nftables.Table {
	return &nftables.Table{Name: s.tablePrefix() + "net-" + name, Family: nftables.TableFamilyIPv4}
}

func (s *Store) natTable(id string) *nftables.Table {
	return &nftables.Table{Name: s.tablePrefix() + id[:12], Family: nftables.TableFamilyIPv4}
}

// hasNetworkTable tells whether the network's table is there, whole:
// someone may have flushed the ruleset since the bridge was made, and a
// table made by an earlier skiff lacks the isolation chain.
func (s *Store) hasNetworkTable(n *Network) bool {
	conn, err := nftables.New()
	if err != nil {
		return false
	}
	_, err = conn.ListChain(s.networkTable(n.Name), isolationChain)
	return err == nil
}

// addNetworkTable makes the network's table, or makes it anew: adding,
// deleting and adding it again in one batch replaces what was there
// atomically.
func (s *Store) addNetworkTable(n *Network) error {
	conn, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	conn.AddTable(s.networkTable(n.Name))
	conn.DelTable(s.networkTable(n.Name))
	table := conn.AddTable(s.networkTable(n.Name))
	subnet := n.ipnet()
	guard := conn.AddChain(&nftables.Chain{Name: "guard", Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRaw})
	addRule(conn, guard, matchIfname(expr.MetaKeyIIFNAME, n.Bridge, expr.CmpOpEq), matchSubnet(16, loopback),
		verdict(expr.VerdictDrop))
	post := conn.AddChain(&nftables.Chain{Name: "postrouting", Table: table, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource})
	addRule(conn, post, matchSubnet(12, subnet), matchOifname(n.Bridge, expr.CmpOpNeq), masquerade())
	addRule(conn, post, matchSubnet(16, subnet), matchOifname(n.Bridge, expr.CmpOpEq), matchDNATed(), masquerade())
	isolation := conn.AddChain(&nftables.Chain{Name: isolationChain, Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter})
	toOtherBridge := slices.Concat(matchIfname(expr.MetaKeyIIFNAME, n.Bridge, expr.CmpOpEq),
		matchOifname(n.Bridge, expr.CmpOpNeq), matchIfnamePrefix(expr.MetaKeyOIFNAME, "skiff"))
	addRule(conn, isolation, toOtherBridge, matchDNATed(), verdict(expr.VerdictAccept))
	addRule(conn, isolation, toOtherBridge, verdict(expr.VerdictDrop))
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("nft add table ip %s: %w", table.Name, err)
	}
	return nil
}

func (s *Store) addPortRules(id string, ip net.IP, ports []Port) error {
	if len(ports) == 0 {
		return nil
	}
	conn, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	table := conn.AddTable(s.natTable(id))
	hooks := []struct {
		chain string
		hook  *nftables.ChainHook
	}{{"prerouting", nftables.ChainHookPrerouting}, {"output", nftables.ChainHookOutput}}
	for _, h := range hooks {
		c := conn.AddChain(&nftables.Chain{Name: h.chain, Table: table, Type: nftables.ChainTypeNAT,
			Hooknum: h.hook, Priority: nftables.ChainPriorityNATDest})
		for _, p := range ports {
			addRule(conn, c, matchHostAddress(p), matchPort(p), dnat(ip, p.Container))
		}
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("nft add table ip %s: %w", table.Name, err)
	}
	return nil
}

func addRule(conn *nftables.Conn, c *nftables.Chain, exprs ...[]expr.Any) {
	var all []expr.Any
	for _, e := range exprs {
		all = append(all, e...)
	}
	conn.AddRule(&nftables.Rule{Table: c.Table, Chain: c, Exprs: all})
}

// deletePortRules removes the container's table, if it has one. Asking
// first costs less than a deletion that fails, which waits as long as
// one that succeeds.
func (s *Store) deletePortRules(id string) {
	if table := s.natTable(id).Name; hasTable(table) {
		deleteTable(table)
	}
}

func hasTable(name string) bool {
	conn, err := nftables.New()
	if err != nil {
		return false
	}
	_, err = conn.ListTableOfFamily(name, nftables.TableFamilyIPv4)
	return err == nil
}

// deleteTable deletes an nftables table of skiff's, if it is there.
func deleteTable(name string) {
	conn, err := nftables.New()
	if err != nil {
		return
	}
	conn.DelTable(&nftables.Table{Name: name, Family: nftables.TableFamilyIPv4})
	conn.Flush() // ENOENT if it is not there: nothing to do
}

// NATTable is the table of a container's published ports.
type NATTable struct {
	Name string
	ID   string // the first 12 digits of the container's ID
}

// NATTables lists this instance's tables of containers' published ports,
// for leak checks and prune; network tables are not in the list, nor
// another instance's tables.
func (s *Store) NATTables() []NATTable {
	var found []NATTable
	for _, name := range listTables(s.tablePrefix()) {
		if id := strings.TrimPrefix(name, s.tablePrefix()); validTableID().MatchString(id) {
			found = append(found, NATTable{Name: name, ID: id})
		}
	}
	return found
}

var validTableID = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-f]{12}$`) })

// listTables lists the IPv4 tables whose names start with prefix.
func listTables(prefix string) []string {
	conn, err := nftables.New()
	if err != nil {
		return nil
	}
	tables, err := conn.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil
	}
	var names []string
	for _, t := range tables {
		if strings.HasPrefix(t.Name, prefix) {
			names = append(names, t.Name)
		}
	}
	return names
}

// DeleteNATTable deletes a table NATTables listed.
func DeleteNATTable(t NATTable) { deleteTable(t.Name) }

var loopback = &net.IPNet{IP: net.IPv4(127, 0, 0, 0).To4(), Mask: net.CIDRMask(8, 32)}

// matchSubnet matches the source (offset 12) or destination (16) address
// against a subnet.
func matchSubnet(offset uint32, subnet *net.IPNet) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: subnet.Mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: subnet.IP.To4()},
	}
}

func matchOifname(bridge string, op expr.CmpOp) []expr.Any {
	return matchIfname(expr.MetaKeyOIFNAME, bridge, op)
}

// matchIfname compares the incoming (IIFNAME) or outgoing (OIFNAME)
// interface's name.
func matchIfname(key expr.MetaKey, bridge string, op expr.CmpOp) []expr.Any {
	name := make([]byte, unix.IFNAMSIZ)
	copy(name, bridge)
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: name},
	}
}

// matchIfnamePrefix matches interface names that start with prefix, as
// nft's "skiff*" does: it compares only the prefix's bytes.
func matchIfnamePrefix(key expr.MetaKey, prefix string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte(prefix)},
	}
}

func matchDNATed() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(0x20), Xor: make([]byte, 4)}, // IPS_DST_NAT
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

func matchLocalDestination() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
}

// matchHostAddress matches the port's host address, or, if it has
// none, any of the host's own addresses.
func matchHostAddress(p Port) []expr.Any {
	if p.HostIP == "" {
		return matchLocalDestination()
	}
	return matchSubnet(16, &net.IPNet{IP: net.ParseIP(p.HostIP).To4(), Mask: net.CIDRMask(32, 32)})
}

// matchPort matches the port's protocol and host port.
func matchPort(p Port) []expr.Any {
	proto := byte(unix.IPPROTO_TCP)
	if p.Protocol() == "udp" {
		proto = unix.IPPROTO_UDP
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(p.Host)},
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

func verdict(kind expr.VerdictKind) []expr.Any { return []expr.Any{&expr.Verdict{Kind: kind}} }
