package network

import (
	"fmt"
	"net"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// skiff's NAT rules live in one nftables table, "skiff", made on first
// use and kept, like the bridges. Each container adds its rules, tagged
// with its ID in the rules' user data, and removes them when it exits. In
// nft's words:
//
//	table ip skiff {
//	  chain guard { type filter hook prerouting priority raw
//	    iifname BRIDGE ip daddr 127.0.0.0/8 drop             # one per bridge
//	  }
//	  chain postrouting { type nat hook postrouting priority srcnat
//	    ip saddr IP oifname != BRIDGE masquerade             # out to the world
//	    ip daddr IP oifname BRIDGE ct status dnat masquerade # replies of published ports come back through us
//	  }
//	  chain prerouting { type nat hook prerouting priority dstnat
//	    fib daddr type local tcp dport HOST dnat to IP:CTR   # from other hosts and namespaces
//	  }
//	  chain output { type nat hook output priority dstnat
//	    fib daddr type local tcp dport HOST dnat to IP:CTR   # from this host itself
//	  }
//	}
//
// Lesson 07 gives each container a table of its own, which is simpler to
// remove; but deleting a table unregisters its chains' hooks, and each
// unregistration waits for an RCU grace period: milliseconds on every
// `skiff run`. Deleting rules waits for nothing.
//
// The guard matters: route_localnet, set on the bridge so that published
// ports answer on 127.0.0.1, would otherwise let a container reach the
// host's services that listen on loopback only (CVE-2020-8558).

var natTable = &nftables.Table{Name: "skiff", Family: nftables.TableFamilyIPv4}

// natChains are the table's chains, made once.
var natChains = map[string]struct {
	typ  nftables.ChainType
	hook *nftables.ChainHook
	prio *nftables.ChainPriority
}{
	"guard":       {nftables.ChainTypeFilter, nftables.ChainHookPrerouting, nftables.ChainPriorityRaw},
	"postrouting": {nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource},
	"prerouting":  {nftables.ChainTypeNAT, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest},
	"output":      {nftables.ChainTypeNAT, nftables.ChainHookOutput, nftables.ChainPriorityNATDest},
}

func chain(name string) *nftables.Chain {
	c := natChains[name]
	return &nftables.Chain{Name: name, Table: natTable, Type: c.typ, Hooknum: c.hook, Priority: c.prio}
}

// ensureNATTable makes the table and its chains if they are missing.
// Adding them again would be harmless (no NLM_F_EXCL), so two runtimes may
// race here, but it is not free: updating a base chain costs milliseconds.
func ensureNATTable(conn *nftables.Conn) {
	if chains, err := conn.ListChainsOfTableFamily(nftables.TableFamilyIPv4); err == nil {
		found := 0
		for _, c := range chains {
			if _, ok := natChains[c.Name]; ok && c.Table.Name == natTable.Name {
				found++
			}
		}
		if found == len(natChains) {
			return
		}
	}
	conn.AddTable(natTable)
	for name := range natChains {
		conn.AddChain(chain(name))
	}
}

// ensureGuardRule drops packets from the bridge to 127.0.0.0/8: one rule
// per bridge, added unless it is there.
func ensureGuardRule(bridge string) error {
	conn, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	tag := "guard " + bridge
	if rules, err := conn.GetRules(natTable, chain("guard")); err == nil {
		for _, r := range rules {
			if string(r.UserData) == tag {
				return nil
			}
		}
	}
	ensureNATTable(conn)
	conn.AddRule(&nftables.Rule{Table: natTable, Chain: chain("guard"), UserData: []byte(tag),
		Exprs: concat(matchIfname(expr.MetaKeyIIFNAME, bridge, expr.CmpOpEq), matchLoopbackDestination(),
			[]expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}})})
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("nft add rule ip skiff guard: %w", err)
	}
	return nil
}

func addNATRules(id string, ip net.IP, n *Network, ports []Port) error {
	conn, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	ensureNATTable(conn)
	rule := func(chainName string, exprs ...[]expr.Any) {
		conn.AddRule(&nftables.Rule{Table: natTable, Chain: chain(chainName), UserData: []byte(id), Exprs: concat(exprs...)})
	}
	rule("postrouting", matchIP(12, ip), matchOifname(n.Bridge, expr.CmpOpNeq), masquerade())
	if len(ports) > 0 {
		rule("postrouting", matchIP(16, ip), matchOifname(n.Bridge, expr.CmpOpEq), matchDNATed(), masquerade())
		for _, p := range ports {
			for _, c := range []string{"prerouting", "output"} {
				rule(c, matchLocalDestination(), matchTCPPort(p.Host), dnat(ip, p.Container))
			}
		}
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("nft add rule ip skiff: %w", err)
	}
	return nil
}

// deleteNATRules removes the rules tagged with the container's ID.
func deleteNATRules(id string) {
	conn, err := nftables.New()
	if err != nil {
		return
	}
	guards, _ := conn.GetRules(natTable, chain("guard"))
	for _, r := range append(containerRules(conn), guards...) {
		if string(r.UserData) == id {
			conn.DelRule(r)
		}
	}
	conn.Flush()
}

// containerRules lists every container's rules (not the guards).
func containerRules(conn *nftables.Conn) []*nftables.Rule {
	var all []*nftables.Rule
	for _, name := range []string{"postrouting", "prerouting", "output"} {
		rules, err := conn.GetRules(natTable, chain(name))
		if err != nil {
			continue // no table yet
		}
		all = append(all, rules...)
	}
	return all
}

// NATRuleOwners lists the IDs of the containers that have NAT rules: for
// leak checks and prune.
func NATRuleOwners() []string {
	conn, err := nftables.New()
	if err != nil {
		return nil
	}
	var ids []string
	for _, r := range containerRules(conn) {
		ids = append(ids, string(r.UserData))
	}
	return ids
}

// DeleteNATRules removes the rules tagged id: a container's, for prune,
// or "guard BRIDGE" when a network goes.
func DeleteNATRules(id string) { deleteNATRules(id) }

func concat(parts ...[]expr.Any) []expr.Any {
	var all []expr.Any
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
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
