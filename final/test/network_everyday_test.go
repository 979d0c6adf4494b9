//go:build vmtest

package test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"skiff/internal/network"
)

// These tests send traffic only to loopback and to addresses inside
// network namespaces they made themselves (containers, bridges).

// TestPublishForms: each form of -p, and -P, gets its DNAT rule (UDP its
// own, a host address its restriction); -P and -p CTR get a free host
// port that the host holds and `port`, ps and inspect report; the ports
// answer from loopback (TCP and UDP) and from the bridge's address, but
// one published on 127.0.0.1 only does not answer on the bridge's; rm -f
// leaves nothing.
func TestPublishForms(t *testing.T) {
	before := hostMounts(t)
	www := t.TempDir()
	os.WriteFile(filepath.Join(www, "index.html"), []byte("published\n"), 0o644)
	detached(t, "pf", "-p", "127.0.0.1:18081:80", "-p", "127.0.0.1::81", "-p", "18082:82", "-p", "83",
		"-p", "18053:53/udp", "-p", "127.0.0.1:18054:54/udp", "-p", "18090-18091:90-91", "--expose", "84", "-P",
		"-v", www+":/www", "busybox", "sh", "-c", "httpd -p 80 -h /www; httpd -p 82 -h /www; exec httpd -f -p 84 -h /www")
	id := inspect(t, "pf").ID
	ip := addressOf(t, "pf")

	lines := strings.Split(strings.TrimSpace(must(t, "port", "pf")), "\n")
	chosen := map[string]string{} // private port: host address
	for _, l := range lines {
		private, host, ok := strings.Cut(l, " -> ")
		if !ok {
			t.Fatalf("port: line %q", l)
		}
		chosen[private] = host
	}
	free := regexp.MustCompile(`:([1-9][0-9]*)$`)
	for private, want := range map[string]string{"80/tcp": "127.0.0.1:18081", "81/tcp": "127.0.0.1:*", "82/tcp": "0.0.0.0:18082",
		"83/tcp": "0.0.0.0:*", "84/tcp": "0.0.0.0:*", "53/udp": "0.0.0.0:18053", "54/udp": "127.0.0.1:18054",
		"90/tcp": "0.0.0.0:18090", "91/tcp": "0.0.0.0:18091"} {
		got := chosen[private]
		if prefix, any := strings.CutSuffix(want, "*"); any && (!strings.HasPrefix(got, prefix) || !free.MatchString(got)) || !any && got != want {
			t.Errorf("port: %s -> %q, want %s (all: %q)", private, got, want, lines)
		}
	}
	if len(chosen) != 9 {
		t.Errorf("port printed %d ports, want 9: %q", len(chosen), lines)
	}
	exposed := chosen["84/tcp"]
	if out := must(t, "port", "pf", "84"); out != exposed+"\n" {
		t.Errorf("port pf 84: %q, want %s", out, exposed)
	}
	if out := must(t, "port", "pf", "53/udp"); out != "0.0.0.0:18053\n" {
		t.Errorf("port pf 53/udp: %q", out)
	}
	if ps := must(t, "ps"); !strings.Contains(ps, exposed+"->84/tcp") || !strings.Contains(ps, "127.0.0.1:18054->54/udp") {
		t.Errorf("ps lacks the chosen port %s or the UDP port:\n%s", exposed, ps)
	}
	if out := must(t, "inspect", "-f", `{{(index (index .NetworkSettings.Ports "54/udp") 0).HostIP}}`, "pf"); out != "127.0.0.1\n" {
		t.Errorf("inspect: host address of 54/udp %q", out)
	}
	// The chosen port is held: nothing else on the host can take it.
	exposedPort := strings.TrimPrefix(exposed, "0.0.0.0:")
	if l, err := net.Listen("tcp", "127.0.0.1:"+exposedPort); err == nil {
		l.Close()
		t.Errorf("a listener took the port %s that -P chose", exposedPort)
	}

	// One rule a port, in both chains.
	table := tablePrefix(roots) + id[:12]
	want := []string{"tcp 127.0.0.1:18081 -> %s:80", "tcp 127.0.0.1:" + strings.TrimPrefix(chosen["81/tcp"], "127.0.0.1:") + " -> %s:81",
		"tcp local:18082 -> %s:82", "tcp local:" + strings.TrimPrefix(chosen["83/tcp"], "0.0.0.0:") + " -> %s:83",
		"udp local:18053 -> %s:53", "udp 127.0.0.1:18054 -> %s:54", "tcp local:18090 -> %s:90", "tcp local:18091 -> %s:91",
		"tcp local:" + exposedPort + " -> %s:84"}
	for i := range want {
		want[i] = fmt.Sprintf(want[i], ip.IP)
	}
	slices.Sort(want)
	for _, chain := range []string{"prerouting", "output"} {
		if got := describeRules(t, table, chain); !slices.Equal(got, want) {
			t.Errorf("rules of %s %s:\n%s\nwant\n%s", table, chain, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}

	// TCP from loopback, the -p IP:HOST:CTR form and -P's port; from the
	// bridge's address, the form without an address; not the form on
	// 127.0.0.1 through the bridge's address.
	if body := httpGet("http://127.0.0.1:18081/"); body != "published\n" {
		t.Errorf("127.0.0.1:18081: %q", body)
	}
	if body := httpGet("http://127.0.0.1:" + exposedPort + "/"); body != "published\n" {
		t.Errorf("-P's port 127.0.0.1:%s: %q", exposedPort, body)
	}
	if body := httpGet("http://" + ip.Gateway + ":18082/"); body != "published\n" {
		t.Errorf("%s:18082, the bridge's address: %q", ip.Gateway, body)
	}
	if c, err := net.DialTimeout("tcp", ip.Gateway+":18081", 2*time.Second); err == nil {
		c.Close()
		t.Errorf("-p 127.0.0.1:18081:80 answers on the bridge's address %s", ip.Gateway)
	}
	// UDP from loopback, to a socket of the test's in the container's
	// network namespace.
	echo := udpEchoIn(t, pidOf(t, "pf"), 53)
	if got := udpAsk(t, "127.0.0.1:18053", "ping"); got != "pong ping" {
		t.Errorf("UDP through 127.0.0.1:18053: %q", got)
	}
	echo.Close() // it holds the namespace, and the veth pair with it

	must(t, "rm", "-f", "pf")
	if hasTable(t, table) {
		t.Errorf("rm -f left the table %s", table)
	}
	assertNothingLeft(t, before)
}

// TestResolvAndHosts: --dns and --dns-search make /etc/resolv.conf,
// --add-host adds to /etc/hosts (host-gateway: the network's gateway),
// and on a user network the entries stay
// when a container joins and the file is written anew.
func TestResolvAndHosts(t *testing.T) {
	out := must(t, "run", "--rm", "--dns", "10.9.9.9", "--dns", "10.9.9.10", "--dns-search", "example.com",
		"--add-host", "db:10.1.2.3", "--add-host", "v6:::1", "busybox", "sh", "-c", "cat /etc/resolv.conf; echo ---; cat /etc/hosts")
	resolv, hosts, _ := strings.Cut(out, "---\n")
	var ns []string
	for _, l := range strings.Split(resolv, "\n") {
		if strings.HasPrefix(l, "nameserver ") || strings.HasPrefix(l, "search ") {
			ns = append(ns, l)
		}
	}
	if want := []string{"nameserver 10.9.9.9", "nameserver 10.9.9.10", "search example.com"}; !slices.Equal(ns, want) {
		t.Errorf("resolv.conf:\n%s\nwant the lines %q", resolv, want)
	}
	if !strings.Contains(hosts, "10.1.2.3\tdb\n") || !strings.Contains(hosts, "::1\tv6\n") || !strings.Contains(hosts, "\tlocalhost") {
		t.Errorf("hosts:\n%s", hosts)
	}
	for _, bad := range [][]string{{"--add-host", "db"}, {"--add-host", "a b:10.0.0.1"}, {"--dns", "nameserver"}, {"--dns-search", "a\nb"}} {
		if r := skiff(t, append(append([]string{"run", "--rm"}, bad...), "busybox", "true")...); r.status == 0 || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("run %q: status %d, %q, want a one-line error", bad, r.status, r.stderr)
		}
	}

	must(t, "network", "create", "hostsnet")
	t.Cleanup(func() { skiff(t, "network", "rm", "hostsnet") })
	detached(t, "hosts1", "--network", "hostsnet", "--add-host", "db:10.1.2.3", "--add-host", "gw:host-gateway", "busybox", "sleep", "300")
	detached(t, "hosts2", "--network", "hostsnet", "busybox", "sleep", "300")
	gateway := addressOf(t, "hosts1").Gateway
	if out := must(t, "exec", "hosts1", "cat", "/etc/hosts"); !strings.Contains(out, "\thosts2 ") || !strings.Contains(out, "10.1.2.3\tdb\n") ||
		!strings.Contains(out, gateway+"\tgw\n") {
		t.Errorf("hosts1's /etc/hosts, after hosts2 joined (gateway %s):\n%s", gateway, out)
	}
	if out := must(t, "exec", "hosts2", "cat", "/etc/hosts"); strings.Contains(out, "\tdb") {
		t.Errorf("hosts2 got hosts1's --add-host:\n%s", out)
	}
	must(t, "rm", "-f", "hosts1", "hosts2")
	must(t, "network", "rm", "hostsnet")
}

// TestUserNetworks: --ip on a user network, refused outside its subnet,
// on an address in use and on the default network, each in one line;
// names resolve on a user network and not on the default one; `network
// inspect`; connect and disconnect add and take away an interface inside
// and its veth on the host; nothing is left after rm -f, even of a
// container killed with its monitor while connected.
func TestUserNetworks(t *testing.T) {
	before := hostMounts(t)
	must(t, "network", "create", "users")
	t.Cleanup(func() { skiff(t, "network", "rm", "users") })
	subnet := strings.TrimSpace(must(t, "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", "users"))
	_, ipnet, err := net.ParseCIDR(subnet)
	if err != nil {
		t.Fatalf("network inspect: subnet %q: %v", subnet, err)
	}
	fixed := slices.Clone(ipnet.IP.To4())
	fixed[3] = 77
	// ping needs CAP_NET_RAW: without it every ping fails, and the
	// checks that one must fail would prove nothing.
	detached(t, "ua", "--network", "users", "--ip", fixed.String(), "--cap-add", "NET_RAW", "busybox", "sleep", "300")
	detached(t, "ub", "--network", "users", "--cap-add", "NET_RAW", "busybox", "sleep", "300")
	if out := must(t, "exec", "ua", "ip", "-o", "-4", "addr", "show", "eth0"); !strings.Contains(out, " "+fixed.String()+"/24 ") {
		t.Errorf("--ip %s: eth0 has %q", fixed, out)
	}
	for args, msg := range map[string]string{
		"--network users --ip " + fixed.String(): "address " + fixed.String() + " is already in use on network users",
		"--network users --ip 10.255.255.7":      "address 10.255.255.7 is not in network users's subnet " + subnet,
		"--ip " + fixed.String():                 "on a user-defined network only",
	} {
		r := skiff(t, append(append([]string{"run", "--rm"}, strings.Fields(args)...), "busybox", "true")...)
		if r.status == 0 || !strings.Contains(r.stderr, msg) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("run %s: status %d, %q, want one line with %q", args, r.status, r.stderr, msg)
		}
	}

	ping := func(from, to string) bool {
		return skiff(t, "exec", from, "ping", "-c", "1", "-W", "2", to).status == 0
	}
	if !ping("ua", "ub") || !ping("ub", "ua") {
		t.Error("ua and ub, on network users, do not reach each other by name")
	}
	detached(t, "uc", "--cap-add", "NET_RAW", "busybox", "sleep", "300")
	detached(t, "ud", "--cap-add", "NET_RAW", "busybox", "sleep", "300")
	if ping("uc", "ud") {
		t.Error("uc reaches ud by name on the default network")
	}

	var views []struct {
		Name, Id string
		IPAM     struct {
			Config []struct{ Subnet, Gateway string }
		}
		Containers map[string]struct{ Name, IPv4Address string }
	}
	if err := json.Unmarshal([]byte(must(t, "network", "inspect", "users", network.DefaultName)), &views); err != nil || len(views) != 2 {
		t.Fatalf("network inspect: %v, %d networks", err, len(views))
	}
	if v := views[0]; v.Name != "users" || len(v.Id) != 64 || v.IPAM.Config[0].Subnet != subnet || v.IPAM.Config[0].Gateway == "" ||
		v.Containers[inspect(t, "ua").ID].IPv4Address != fixed.String()+"/24" || v.Containers[inspect(t, "ub").ID].Name != "ub" {
		t.Errorf("network inspect users: %+v", v)
	}
	if r := skiff(t, "network", "inspect", "nosuch"); r.status == 0 || !strings.Contains(r.stderr, "network nosuch not found") {
		t.Errorf("network inspect nosuch: status %d, %q", r.status, r.stderr)
	}

	// uc joins users: eth1 inside, a second veth on the host, its name
	// known to ua; and leaves.
	ucID := inspect(t, "uc").ID
	must(t, "network", "connect", "users", "uc")
	if out := must(t, "exec", "uc", "ip", "-o", "-4", "addr", "show", "eth1"); !strings.Contains(out, " "+strings.TrimSuffix(ipnet.IP.String(), "0")) {
		t.Errorf("after connect, uc's eth1: %q (subnet %s)", out, subnet)
	}
	if n := vethsOf(ucID); n != 2 {
		t.Errorf("after connect, uc has %d veths on the host, want 2", n)
	}
	if !ping("ua", "uc") {
		t.Error("ua does not reach uc by name after network connect")
	}
	if r := skiff(t, "network", "connect", "users", "uc"); r.status == 0 || !strings.Contains(r.stderr, "already connected") {
		t.Errorf("connect twice: status %d, %q", r.status, r.stderr)
	}
	must(t, "network", "disconnect", "users", "uc")
	if r := skiff(t, "exec", "uc", "ip", "link", "show", "eth1"); r.status == 0 {
		t.Error("after disconnect, uc still has eth1")
	}
	if n := vethsOf(ucID); n != 1 {
		t.Errorf("after disconnect, uc has %d veths on the host, want 1", n)
	}
	if out := must(t, "exec", "ua", "cat", "/etc/hosts"); strings.Contains(out, "\tuc ") {
		t.Errorf("after disconnect, ua's hosts still name uc:\n%s", out)
	}

	// Connected, then removed; connected, then killed with its monitor.
	must(t, "network", "connect", "users", "uc")
	must(t, "network", "connect", "users", "ud")
	must(t, "rm", "-f", "uc")
	i := inspect(t, "ud")
	for _, pid := range []int{i.State.MonitorPid, i.State.Pid} {
		if p, err := os.FindProcess(pid); err == nil {
			p.Kill()
		}
	}
	waitGone(t, i.State.Pid)
	must(t, "rm", "-f", "ud")
	for _, id := range []string{ucID, i.ID} {
		if n := vethsOf(id); n != 0 {
			t.Errorf("container %.12s, removed, left %d veths", id, n)
		}
	}
	if out := must(t, "exec", "ua", "cat", "/etc/hosts"); strings.Contains(out, "\tuc ") || strings.Contains(out, "\tud ") {
		t.Errorf("ua's hosts still name removed containers:\n%s", out)
	}
	must(t, "rm", "-f", "ua", "ub")
	must(t, "network", "rm", "users")
	if left, _ := os.ReadDir(filepath.Join(roots[3], "networks", "_connected")); len(left) > 0 {
		t.Errorf("records of connected networks left: %v", left)
	}
	assertNothingLeft(t, before)
}

// TestNetworkRmAndSubnets: the default network cannot be removed, as in
// Docker; a subnet a host interface holds is refused.
func TestNetworkRmAndSubnets(t *testing.T) {
	must(t, "run", "--rm", "busybox", "true") // the default network exists
	if r := skiff(t, "network", "rm", network.DefaultName); r.status == 0 || r.stderr != "skiff: bridge is a pre-defined network and cannot be removed\n" {
		t.Errorf("network rm bridge: status %d, %q", r.status, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(roots[3], "networks", network.DefaultName+".json")); err != nil {
		t.Errorf("network rm bridge removed it: %v", err)
	}
	squatter := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "sktsquat0"}, PeerName: "sktsquat1"}
	if err := netlink.LinkAdd(squatter); err != nil {
		t.Fatalf("ip link add sktsquat0 type veth: %v", err)
	}
	defer netlink.LinkDel(squatter)
	addr, _ := netlink.ParseAddr("10.213.7.1/24")
	if err := netlink.AddrAdd(squatter, addr); err != nil {
		t.Fatal(err)
	}
	r := skiff(t, "network", "create", "--subnet", "10.213.7.0/25", "squat")
	if r.status == 0 {
		skiff(t, "network", "rm", "squat")
	}
	if r.status == 0 || !strings.Contains(r.stderr, "overlaps the address 10.213.7.1/24 of sktsquat0") {
		t.Errorf("network create on a host interface's subnet: status %d, %q", r.status, r.stderr)
	}
}

// removeDefaultNetwork takes down the default network of a data root:
// `network rm` refuses it, prune takes down a network whose file is gone.
func removeDefaultNetwork(t *testing.T, rootFlags []string) {
	t.Helper()
	os.Remove(filepath.Join(rootFlags[3], "networks", network.DefaultName+".json"))
	skiffWith(t, rootFlags, "system", "prune")
}

// vethsOf counts the host's veths of container id: "veth" and 8 digits
// of its ID start their names.
func vethsOf(id string) int {
	links, _ := netlink.LinkList()
	n := 0
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, "veth"+id[:8]) {
			n++
		}
	}
	return n
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	for range 100 {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("process %d still runs", pid)
}

// describeRules reads the DNAT rules of a chain as
// "PROTO ADDR:PORT -> IP:PORT", ADDR "local" for any of the host's, sorted.
func describeRules(t *testing.T, table, chain string) []string {
	t.Helper()
	conn, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	rules, err := conn.GetRules(&nftables.Table{Name: table, Family: nftables.TableFamilyIPv4}, &nftables.Chain{Name: chain})
	if err != nil {
		t.Fatalf("nft list chain %s %s: %v", table, chain, err)
	}
	var out []string
	for _, r := range rules {
		var proto, daddr, to string
		var dport uint16
		var meta expr.MetaKey
		var payload *expr.Payload
		var toIP net.IP
		for _, e := range r.Exprs {
			switch e := e.(type) {
			case *expr.Meta:
				meta, payload = e.Key, nil
			case *expr.Payload:
				meta, payload = 0, e
			case *expr.Fib:
				meta, payload, daddr = 0, nil, "local"
			case *expr.Cmp:
				switch {
				case payload != nil && payload.Base == expr.PayloadBaseNetworkHeader && payload.Offset == 16:
					daddr = net.IP(e.Data).String()
				case payload != nil && payload.Base == expr.PayloadBaseTransportHeader && payload.Offset == 2:
					dport = binary.BigEndian.Uint16(e.Data)
				case meta == expr.MetaKeyL4PROTO:
					proto = map[byte]string{6: "tcp", 17: "udp"}[e.Data[0]]
				}
			case *expr.Immediate:
				if len(e.Data) == 4 {
					toIP = net.IP(e.Data)
				} else if len(e.Data) == 2 {
					to = fmt.Sprintf("%s:%d", toIP, binary.BigEndian.Uint16(e.Data))
				}
			}
		}
		out = append(out, fmt.Sprintf("%s %s:%d -> %s", proto, daddr, dport, to))
	}
	slices.Sort(out)
	return out
}

// udpEchoIn opens a UDP socket on port inside the network namespace of
// process pid, which answers "pong " and what it got.
func udpEchoIn(t *testing.T, pid, port int) net.PacketConn {
	t.Helper()
	type result struct {
		c   net.PacketConn
		err error
	}
	done := make(chan result)
	go func() {
		// The thread goes back to the host's namespace: one left in the
		// container's would hold it, and its veth pair, after the
		// container is gone (the main thread is never ended).
		runtime.LockOSThread()
		host, err := netns.Get()
		if err != nil {
			done <- result{nil, err}
			return
		}
		defer host.Close()
		ns, err := netns.GetFromPid(pid)
		if err == nil {
			defer ns.Close()
			err = netns.Set(ns)
		}
		if err != nil {
			done <- result{nil, err}
			return
		}
		c, err := net.ListenPacket("udp4", fmt.Sprintf("0.0.0.0:%d", port))
		if netns.Set(host) == nil {
			runtime.UnlockOSThread()
		}
		done <- result{c, err}
	}()
	r := <-done
	if r.err != nil {
		t.Fatalf("UDP socket in the namespace of %d: %v", pid, r.err)
	}
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := r.c.ReadFrom(buf)
			if err != nil {
				return
			}
			r.c.WriteTo(append([]byte("pong "), buf[:n]...), from)
		}
	}()
	t.Cleanup(func() { r.c.Close() })
	return r.c
}

// udpAsk sends msg to addr and returns the answer, trying a few times.
func udpAsk(t *testing.T, addr, msg string) string {
	t.Helper()
	c, err := net.Dial("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 512)
	for range 10 {
		c.Write([]byte(msg))
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if n, err := c.Read(buf); err == nil {
			return string(buf[:n])
		}
	}
	return ""
}
