package network

import (
	"fmt"
	"net"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Each container's NAT rules live in an nftables table of its own, which
// goes in one atomic deletion. In nft's words (lesson 07 explains them):
//
//	table ip skiff-ID {
//	  chain postrouting { type nat hook postrouting priority srcnat
//	    ip saddr IP oifname != BRIDGE masquerade
//	    ip daddr IP oifname BRIDGE ct status dnat masquerade
//	  }
//	  chain prerouting { type nat hook prerouting priority dstnat
//	    fib daddr type local tcp dport HOST dnat to IP:CTR
//	  }
//	  chain output { type nat hook output priority dstnat
//	    fib daddr type local tcp dport HOST dnat to IP:CTR
//	  }
//	  chain guard { type filter hook prerouting priority raw
//	    iifname BRIDGE ip daddr 127.0.0.0/8 drop
//	  }
//	}
//
// The guard matters: route_localnet, set on the bridge so that published
// ports answer on 127.0.0.1, would otherwise let a container reach the
// host's services that listen on loopback only (CVE-2020-8558).
func natTable(id string) *nftables.Table {
	return &nftables.Table{Name: "skiff-" + id[:12], Family: nftables.TableFamilyIPv4}
}

func addNATRules(id string, ip net.IP, n *Network, ports []Port) error {
	conn, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	table := conn.AddTable(natTable(id))
	chain := func(name string, hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
		return conn.AddChain(&nftables.Chain{Name: name, Table: table, Type: nftables.ChainTypeNAT, Hooknum: hook, Priority: prio})
	}
	rule := func(c *nftables.Chain, exprs ...[]expr.Any) {
		var all []expr.Any
		for _, e := range exprs {
			all = append(all, e...)
		}
		conn.AddRule(&nftables.Rule{Table: table, Chain: c, Exprs: all})
	}
	guard := conn.AddChain(&nftables.Chain{Name: "guard", Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRaw})
	rule(guard, matchIfname(expr.MetaKeyIIFNAME, n.Bridge, expr.CmpOpEq), matchLoopbackDestination(),
		[]expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}})
	post := chain("postrouting", nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource)
	rule(post, matchIP(12, ip), matchOifname(n.Bridge, expr.CmpOpNeq), masquerade())
	if len(ports) > 0 {
		rule(post, matchIP(16, ip), matchOifname(n.Bridge, expr.CmpOpEq), matchDNATed(), masquerade())
		pre := chain("prerouting", nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest)
		out := chain("output", nftables.ChainHookOutput, nftables.ChainPriorityNATDest)
		for _, p := range ports {
			for _, c := range []*nftables.Chain{pre, out} {
				rule(c, matchLocalDestination(), matchTCPPort(p.Host), dnat(ip, p.Container))
			}
		}
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("nft add table ip %s: %w", natTable(id).Name, err)
	}
	return nil
}

// deleteNATRules removes the container's table, if it has one.
func deleteNATRules(id string) {
	conn, err := nftables.New()
	if err != nil {
		return
	}
	tables, err := conn.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return
	}
	for _, t := range tables {
		if t.Name == natTable(id).Name {
			conn.DelTable(t)
			conn.Flush()
		}
	}
}

// NATTables lists the containers' NAT tables: for leak checks and prune.
func NATTables() ([]string, error) {
	conn, err := nftables.New()
	if err != nil {
		return nil, err
	}
	tables, err := conn.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, t := range tables {
		if len(t.Name) > 6 && t.Name[:6] == "skiff-" {
			names = append(names, t.Name)
		}
	}
	return names, nil
}

func matchIP(offset uint32, ip net.IP) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ip.To4()},
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

// matchLoopbackDestination matches packets for 127.0.0.0/8.
func matchLoopbackDestination() []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte{255, 0, 0, 0}, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{127, 0, 0, 0}},
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
