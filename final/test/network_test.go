//go:build vmtest

package test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"skiff/internal/network"
)

// These tests send traffic only to loopback and to addresses inside
// network namespaces they made themselves (containers, bridges).

// TestNetworkIsolation: a container reaches neither the containers of
// another network nor is reached by them, but it reaches its own
// network's, the world beyond the host and the other network's published
// ports through the host's addresses.
func TestNetworkIsolation(t *testing.T) {
	before := hostMounts(t)
	for _, name := range []string{"isola", "isolb"} {
		must(t, "network", "create", name)
		t.Cleanup(func() { skiff(t, "network", "rm", name) })
	}
	www := t.TempDir()
	os.WriteFile(filepath.Join(www, "index.html"), []byte("b's page\n"), 0o644)
	// ping needs CAP_NET_RAW: without it, every ping would fail, and
	// the checks that a ping must fail would prove nothing.
	detached(t, "a1", "--network", "isola", "--cap-add", "NET_RAW", "busybox", "sleep", "300")
	detached(t, "a2", "--network", "isola", "busybox", "sleep", "300")
	detached(t, "b1", "--network", "isolb", "--cap-add", "NET_RAW", "-p", "8091:80", "-v", www+":/www", "busybox", "httpd", "-f", "-p", "80", "-h", "/www")
	detached(t, "outside", "--network", "none", "busybox", "sleep", "300")
	a1, b1 := addressOf(t, "a1"), addressOf(t, "b1")

	ping := func(from, to string) bool {
		return skiff(t, "exec", from, "ping", "-c", "1", "-W", "2", to).status == 0
	}
	if !ping("a1", "a2") {
		t.Error("a1 cannot ping a2, on its own network")
	}
	if ping("a1", b1.IP) {
		t.Errorf("a1 (network isola) pings b1 (%s, network isolb)", b1.IP)
	}
	if ping("b1", a1.IP) {
		t.Errorf("b1 (network isolb) pings a1 (%s, network isola)", a1.IP)
	}
	get := func(from, addr string) string {
		return skiff(t, "exec", from, "sh", "-c", `printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 `+addr).stdout
	}
	if body := get("a1", b1.IP+" 80"); body != "" {
		t.Errorf("a1 reaches b1's httpd at %s:80 directly: %q", b1.IP, body)
	}
	// b1's published port, through a1's gateway, an address of the host
	// (busybox's wget -T crashes: nc it is).
	var body string
	for try := 0; try < 30 && !strings.HasSuffix(body, "\r\n\r\nb's page\n"); try++ {
		if body = get("a1", a1.Gateway+" 8091"); body == "" {
			time.Sleep(200 * time.Millisecond)
		}
	}
	if !strings.HasSuffix(body, "\r\n\r\nb's page\n") {
		t.Errorf("a1 cannot reach b1's published port at %s:8091: %q", a1.Gateway, body)
	}
	// The world beyond the host: a namespace of the test's, on a veth
	// pair with no skiff bridge on the way.
	world := worldOutside(t, pidOf(t, "outside"))
	if !ping("a1", world) {
		t.Errorf("a1 cannot reach %s, out of the host through a link that is not a bridge of skiff's", world)
	}
	// A network table without the isolation chain (an earlier skiff's, or
	// a ruleset flushed in part) is made anew by the next run.
	conn, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	table := &nftables.Table{Name: tablePrefix(roots) + "net-isola", Family: nftables.TableFamilyIPv4}
	chain := &nftables.Chain{Name: "isolation", Table: table}
	conn.FlushChain(chain)
	conn.DelChain(chain)
	if err := conn.Flush(); err != nil {
		t.Fatalf("nft delete chain: %v", err)
	}
	must(t, "run", "--rm", "--network", "isola", "busybox", "true")
	if _, err := conn.ListChain(table, "isolation"); err != nil {
		t.Errorf("the isolation chain of %s was not made anew: %v", table.Name, err)
	}
	if ping("a1", b1.IP) {
		t.Errorf("after the table was made anew, a1 pings b1 (%s)", b1.IP)
	}
	for _, name := range []string{"a1", "a2", "b1", "outside"} {
		must(t, "rm", "-f", name)
	}
	assertNothingLeft(t, before)
}

// worldOutside links the network namespace of process pid to the host
// through a veth pair, 192.0.2.1 on the host's end, and returns the
// address of the other end, 192.0.2.2.
func worldOutside(t *testing.T, pid int) string {
	t.Helper()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "sktworld0", Flags: net.FlagUp}, PeerName: "world0",
		PeerNamespace: netlink.NsPid(pid)}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatalf("ip link add sktworld0 type veth: %v", err)
	}
	t.Cleanup(func() { netlink.LinkDel(veth) })
	host, _ := netlink.ParseAddr("192.0.2.1/24")
	if err := netlink.AddrAdd(veth, host); err != nil {
		t.Fatal(err)
	}
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	peer, err := h.LinkByName("world0")
	if err == nil {
		inside, _ := netlink.ParseAddr("192.0.2.2/24")
		err = h.AddrAdd(peer, inside)
	}
	if err == nil {
		err = h.LinkSetUp(peer)
	}
	if err != nil {
		t.Fatalf("world0 inside the namespace of %d: %v", pid, err)
	}
	return "192.0.2.2"
}

// TestNetworkBridgeNames: networks whose names share their first 9
// characters get bridges of their own, and removing one leaves the
// other's container alone; a network in use cannot be removed; a link of
// the bridge's name that is not the network's own is never used.
func TestNetworkBridgeNames(t *testing.T) {
	before := hostMounts(t)
	one, two := "aaaaaaaaa-one", "aaaaaaaaa-two"
	for _, name := range []string{one, two} {
		must(t, "network", "create", name)
		t.Cleanup(func() { skiff(t, "network", "rm", name) })
	}
	if bridgeOf(t, roots, one) == bridgeOf(t, roots, two) {
		t.Fatalf("networks %s and %s share the bridge %s", one, two, bridgeOf(t, roots, one))
	}
	// network create makes the bridge, marked as the network's own.
	link, err := netlink.LinkByName(bridgeOf(t, roots, one))
	if want := "skiff" + network.InstanceTag(roots[3]) + " network " + one; err != nil || link.Attrs().Alias != want {
		t.Errorf("the bridge of %s: %v, want one with the alias %q", one, err, want)
	}
	detached(t, "onlytwo", "--network", two, "busybox", "httpd", "-f", "-p", "80", "-h", "/")
	if r := skiff(t, "network", "rm", two); r.status == 0 || !strings.Contains(r.stderr, "in use") {
		t.Errorf("network rm of a network in use: status %d, %q", r.status, r.stderr)
	}
	must(t, "network", "rm", one)
	if _, err := netlink.LinkByName(bridgeOf(t, roots, two)); err != nil {
		t.Errorf("network rm %s took %s's bridge %s: %v", one, two, bridgeOf(t, roots, two), err)
	}
	if ip := addressOf(t, "onlytwo").IP; !reachable(ip + ":80") {
		t.Errorf("the host cannot reach onlytwo (%s) any more", ip)
	}
	must(t, "rm", "-f", "onlytwo")

	// A link that has the name of a new network's bridge: create refuses.
	squatted := "squatted"
	sum := sha256.Sum256([]byte(network.InstanceTag(roots[3]) + "\x00" + squatted))
	squatter := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "skiff" + hex.EncodeToString(sum[:5])}}
	if err := netlink.LinkAdd(squatter); err != nil {
		t.Fatal(err)
	}
	defer netlink.LinkDel(squatter)
	if r := skiff(t, "network", "create", squatted); r.status == 0 || !strings.Contains(r.stderr, squatter.Name) {
		t.Errorf("network create %s, whose bridge's name %s is taken: status %d, %q", squatted, squatter.Name, r.status, r.stderr)
		skiff(t, "network", "rm", squatted)
	}
	// One that took the name of an existing network's bridge: run refuses.
	link, _ = netlink.LinkByName(bridgeOf(t, roots, two))
	netlink.LinkDel(link)
	impostor := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: bridgeOf(t, roots, two)}}
	if err := netlink.LinkAdd(impostor); err != nil {
		t.Fatal(err)
	}
	r := skiff(t, "run", "--rm", "--network", two, "busybox", "true")
	netlink.LinkDel(impostor)
	if r.status == 0 || !strings.Contains(r.stderr, "not its bridge") {
		t.Errorf("run on a network whose bridge's name another link took: status %d, %q", r.status, r.stderr)
	}
	must(t, "network", "rm", two)
	netlink.LinkDel(squatter)
	assertNothingLeft(t, before)
}

// TestTwoDataRoots: two instances of skiff, each with a data root of its
// own, share a host: their default networks are up at once on bridges,
// subnets and tables of their own, and neither `network rm` nor the sweep
// of `system prune` of one touches the other's; a port that one publishes
// the other cannot.
func TestTwoDataRoots(t *testing.T) {
	before := hostMounts(t)
	dir := t.TempDir()
	other := []string{"--root", filepath.Join(dir, "run"), "--data-root", filepath.Join(dir, "lib")}
	mustIn(t, other, "import", os.Getenv("ROOTFS"), "busybox")

	www := t.TempDir()
	os.WriteFile(filepath.Join(www, "index.html"), []byte("first\n"), 0o644)
	must(t, "network", "create", "twin")
	t.Cleanup(func() { skiff(t, "network", "rm", "twin") })
	mustIn(t, other, "network", "create", "twin")
	detached(t, "first", "-p", "8092:80", "-v", www+":/www", "busybox", "httpd", "-f", "-p", "80", "-h", "/www")
	detached(t, "firsttwin", "--network", "twin", "busybox", "sleep", "300")
	mustIn(t, other, "run", "-d", "--name", "second", "busybox", "sleep", "300")
	mustIn(t, other, "run", "-d", "--name", "secondtwin", "--network", "twin", "busybox", "sleep", "300")
	t.Cleanup(func() {
		for _, args := range [][]string{{"rm", "-f", "second"}, {"rm", "-f", "secondtwin"}, {"network", "rm", "twin"}} {
			skiffWith(t, other, args...)
		}
		removeDefaultNetwork(t, other)
	})

	for _, name := range []string{network.DefaultName, "twin"} {
		ours, theirs := readNetwork(t, roots, name), readNetwork(t, other, name)
		if ours.Bridge == theirs.Bridge || ours.Subnet == theirs.Subnet {
			t.Errorf("network %s of both data roots: %+v and %+v", name, ours, theirs)
		}
		for _, n := range []networkFile{ours, theirs} {
			if _, err := netlink.LinkByName(n.Bridge); err != nil {
				t.Errorf("no bridge %s: %v", n.Bridge, err)
			}
		}
	}
	if a, b := addressOf(t, "first").IP, addressOfIn(t, other, "second").IP; a == b || !reachable(a+":80") {
		t.Errorf("first (%s) and second (%s): both default networks should be up at once, with their own addresses", a, b)
	}
	ours, theirs := tablePrefix(roots), tablePrefix(other)
	ourTables := []string{ours + "net-bridge", ours + "net-twin", ours + inspect(t, "first").ID[:12]}
	theirTables := []string{theirs + "net-bridge", theirs + "net-twin"}
	for _, table := range append(ourTables, theirTables...) {
		if !hasTable(t, table) {
			t.Errorf("no nftables table %s (all: %v)", table, allTables(t))
		}
	}

	// The port first publishes, the other instance cannot.
	if r := skiffWith(t, other, "run", "--rm", "-p", "8092:80", "busybox", "true"); r.status == 0 || !strings.Contains(r.stderr, "port 8092: address already in use") {
		t.Errorf("the other data root publishes port 8092 too: status %d, %q", r.status, r.stderr)
	}

	// A subnet the first instance holds, the other cannot take; one that
	// the first took while the other's bridge was down (after a reboot)
	// the other cannot bring up.
	first := readNetwork(t, roots, network.DefaultName)
	if r := skiffWith(t, other, "network", "create", "--subnet", first.Subnet, "copycat"); r.status == 0 || !strings.Contains(r.stderr, first.Bridge) {
		t.Errorf("the other data root creates a network on %s, which %s holds: status %d, %q", first.Subnet, first.Bridge, r.status, r.stderr)
	}
	mustIn(t, other, "network", "create", "late")
	late := readNetwork(t, other, "late")
	link, _ := netlink.LinkByName(late.Bridge)
	netlink.LinkDel(link)
	must(t, "network", "create", "--subnet", late.Subnet, "early")
	t.Cleanup(func() { skiff(t, "network", "rm", "early") })
	if r := skiffWith(t, other, "run", "--rm", "--network", "late", "busybox", "true"); r.status == 0 || !strings.Contains(r.stderr, bridgeOf(t, roots, "early")) {
		t.Errorf("the other data root brings up network late on %s, which early holds now: status %d, %q", late.Subnet, r.status, r.stderr)
	}
	must(t, "network", "rm", "early")
	mustIn(t, other, "network", "rm", "late")

	// The other instance removes its containers and networks, and sweeps.
	theirBridges := []string{readNetwork(t, other, network.DefaultName).Bridge, readNetwork(t, other, "twin").Bridge}
	mustIn(t, other, "rm", "-f", "second", "secondtwin")
	mustIn(t, other, "network", "rm", "twin")
	removeDefaultNetwork(t, other)
	for _, name := range []string{network.DefaultName, "twin"} {
		if _, err := netlink.LinkByName(readNetwork(t, roots, name).Bridge); err != nil {
			t.Errorf("the other data root took the bridge of our network %s: %v", name, err)
		}
	}
	for _, table := range ourTables {
		if !hasTable(t, table) {
			t.Errorf("the other data root took our table %s", table)
		}
	}
	for _, table := range theirTables {
		if hasTable(t, table) {
			t.Errorf("the other data root left its table %s", table)
		}
	}
	for _, bridge := range theirBridges {
		if _, err := netlink.LinkByName(bridge); err == nil {
			t.Errorf("the other data root left its bridge %s", bridge)
		}
	}
	if ps := must(t, "ps"); !strings.Contains(ps, "first") || !strings.Contains(ps, "firsttwin") {
		t.Errorf("our containers are gone:\n%s", ps)
	}
	if body := httpGet("http://127.0.0.1:8092/"); body != "first\n" {
		t.Errorf("first's published port, after the other data root's prune: %q", body)
	}
	must(t, "rm", "-f", "first", "firsttwin")
	must(t, "network", "rm", "twin")
	assertNothingLeft(t, before)
}

// TestPortAlreadyBound: a host port that a host service holds cannot be
// published, and a published port is held against the host's services.
func TestPortAlreadyBound(t *testing.T) {
	before := hostMounts(t)
	service, err := net.Listen("tcp", "127.0.0.1:8093")
	if err != nil {
		t.Fatal(err)
	}
	defer service.Close()
	r := skiff(t, "run", "--rm", "-p", "8093:80", "busybox", "true")
	if r.status != 125 || r.stderr != "skiff: port 8093: address already in use\n" {
		t.Errorf("publishing a port a host service listens on: status %d, %q", r.status, r.stderr)
	}
	if r := skiff(t, "run", "--rm", "-p", "18080:80", "-p", "18080:81", "busybox", "true"); r.status == 0 || !strings.Contains(r.stderr, "port 18080 is published twice") {
		t.Errorf("one port published twice: status %d, %q", r.status, r.stderr)
	}
	assertNothingLeft(t, before)

	detached(t, "holder", "-p", "8094:80", "busybox", "sleep", "300")
	if l, err := net.Listen("tcp", "127.0.0.1:8094"); err == nil {
		l.Close()
		t.Error("a host service took the port a container publishes")
	}
	must(t, "rm", "-f", "holder")
	l, err := net.Listen("tcp", "127.0.0.1:8094")
	if err != nil {
		t.Errorf("the port a removed container published is still held: %v", err)
	} else {
		l.Close()
	}
	assertNothingLeft(t, before)
}

// TestConcurrentRemove: 30 containers on one network removed at once,
// three times: every removal succeeds, though each rewrites the others'
// /etc/hosts.
func TestConcurrentRemove(t *testing.T) {
	before := hostMounts(t)
	must(t, "network", "create", "crowd")
	t.Cleanup(func() { skiff(t, "network", "rm", "crowd") })
	// The cause, made certain: a container's removal rewrites the hosts
	// files of the network's others, and must not bring back one that a
	// removal deleted meanwhile.
	detached(t, "crowd-a", "--network", "crowd", "busybox", "sleep", "300")
	detached(t, "crowd-b", "--network", "crowd", "busybox", "sleep", "300")
	hosts := filepath.Join(roots[1], "containers", inspect(t, "crowd-a").ID, "hosts")
	if err := os.Remove(hosts); err != nil {
		t.Fatal(err)
	}
	must(t, "rm", "-f", "crowd-b")
	if _, err := os.Stat(hosts); err == nil {
		t.Errorf("removing crowd-b made anew crowd-a's deleted %s", hosts)
	}
	must(t, "rm", "-f", "crowd-a")

	const count = 30
	all := func(args func(i int) []string) []string {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failed []string
		for i := range count {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if r := skiff(t, args(i)...); r.status != 0 {
					mu.Lock()
					failed = append(failed, fmt.Sprintf("skiff %s: %d %s", strings.Join(args(i), " "), r.status, r.stderr))
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return failed
	}
	for round := range 3 {
		name := func(i int) string { return fmt.Sprintf("crowd%d-%d", round, i) }
		if failed := all(func(i int) []string {
			return []string{"run", "-d", "--name", name(i), "--network", "crowd", "busybox", "sleep", "300"}
		}); len(failed) > 0 {
			t.Fatalf("round %d: %d runs failed:\n%s", round, len(failed), strings.Join(failed, "\n"))
		}
		if failed := all(func(i int) []string { return []string{"rm", "-f", name(i)} }); len(failed) > 0 {
			t.Errorf("round %d: %d of %d concurrent rm -f failed:\n%s", round, len(failed), count, strings.Join(failed, "\n"))
			for i := range count {
				skiff(t, "rm", "-f", name(i))
			}
		}
	}
	must(t, "network", "rm", "crowd")
	assertNothingLeft(t, before)
}

// skiffWith runs skiff with other --root and --data-root flags.
func skiffWith(t *testing.T, rootFlags []string, args ...string) result {
	t.Helper()
	cmd := exec.Command("skiff", append(append([]string{}, rootFlags...), args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("skiff %v: %v", args, err)
		}
	}
	return result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
}

func mustIn(t *testing.T, rootFlags []string, args ...string) string {
	t.Helper()
	r := skiffWith(t, rootFlags, args...)
	if r.status != 0 {
		t.Fatalf("skiff %s: status %d\n%s%s", strings.Join(args, " "), r.status, r.stdout, r.stderr)
	}
	return r.stdout
}

// address is a container's place on its network, from inspect.
type address struct {
	IP      string `json:"ip"`
	Gateway string `json:"gateway"`
}

func addressOf(t *testing.T, name string) address { return addressOfIn(t, roots, name) }

func addressOfIn(t *testing.T, rootFlags []string, name string) address {
	t.Helper()
	var i struct {
		Network address `json:"network"`
	}
	if err := unmarshalOne(mustIn(t, rootFlags, "inspect", name), &i); err != nil || i.Network.IP == "" {
		t.Fatalf("inspect %s: no address (%v)", name, err)
	}
	return i.Network
}

// networkFile is a network as its data root records it.
type networkFile struct{ Bridge, Subnet string }

func readNetwork(t *testing.T, rootFlags []string, name string) networkFile {
	t.Helper()
	var n networkFile
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(rootFlags[3], "networks", name+".json"))), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func bridgeOf(t *testing.T, rootFlags []string, name string) string {
	t.Helper()
	return readNetwork(t, rootFlags, name).Bridge
}

// tablePrefix starts the names of the tables of the instance of a data
// root.
func tablePrefix(rootFlags []string) string {
	return "skiff" + network.InstanceTag(rootFlags[3]) + "-"
}

func allTables(t *testing.T) []string {
	conn, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tables, _ := conn.ListTables()
	var names []string
	for _, tb := range tables {
		names = append(names, tb.Name)
	}
	return names
}

func hasTable(t *testing.T, name string) bool {
	for _, n := range allTables(t) {
		if n == name {
			return true
		}
	}
	return false
}

// reachable tells whether a TCP connection to addr succeeds.
func reachable(addr string) bool {
	for try := 0; try < 20; try++ {
		if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
			c.Close()
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

func httpGet(url string) string {
	for try := 0; try < 30; try++ {
		if resp, err := http.Get(url); err == nil {
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(data)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return ""
}
