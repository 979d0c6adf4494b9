// Package network gives containers their networks, as lesson 07 does, and
// adds what a real runtime needs: named bridge networks, an address
// allocator that survives restarts and concurrent runs, container names in
// /etc/hosts, and clean removal.
//
// On disk, under ROOT/networks (ROOT is /var/lib/skiff):
//
//	NAME.json        the network: bridge, subnet, gateway
//	NAME/ips/ADDR    one file per address in use: "ID NAME HOSTSFILE"
package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"skiff/internal/safefile"
)

// DefaultName is the network containers join unless told otherwise.
const DefaultName = "bridge"

// Network is one bridge network.
type Network struct {
	Name    string `json:"name"`
	Bridge  string `json:"bridge"`
	Subnet  string `json:"subnet"`
	Gateway string `json:"gateway"`
}

// Store is the folder of networks.
type Store struct{ Root string }

var validName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$`) })

// Get returns a network; the default one is made on first use.
func (s *Store) Get(name string) (*Network, error) {
	var n Network
	data, err := os.ReadFile(filepath.Join(s.Root, name+".json"))
	if errors.Is(err, os.ErrNotExist) && name == DefaultName {
		return s.Create(DefaultName, "10.77.0.0/24")
	}
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("network %s not found", name)
	}
	if err != nil {
		return nil, err
	}
	return &n, json.Unmarshal(data, &n)
}

// Create makes a network with the subnet given, or the next free 10.77.N.0/24.
func (s *Store) Create(name, subnet string) (*Network, error) {
	if !validName().MatchString(name) {
		return nil, fmt.Errorf("invalid network name %q", name)
	}
	if err := os.MkdirAll(s.Root, 0o755); err != nil {
		return nil, err
	}
	unlock, err := safefile.Lock(filepath.Join(s.Root, "lock"), unix.LOCK_EX)
	if err != nil {
		return nil, err
	}
	defer unlock()
	all, _ := s.list()
	if subnet == "" {
		subnet = freeSubnet(all)
	}
	_, ipnet, err := net.ParseCIDR(subnet)
	if err != nil || ipnet.IP.To4() == nil {
		return nil, fmt.Errorf("invalid subnet %q: want an IPv4 CIDR such as 10.78.0.0/24", subnet)
	}
	if ones, _ := ipnet.Mask.Size(); ones > 29 || ones < 8 {
		return nil, fmt.Errorf("subnet %s: want a prefix from /8 to /29", subnet)
	}
	for _, other := range all {
		if other.Name == name {
			return nil, fmt.Errorf("network %s already exists", name)
		}
		if _, o, _ := net.ParseCIDR(other.Subnet); o != nil && (o.Contains(ipnet.IP) || ipnet.Contains(o.IP)) {
			return nil, fmt.Errorf("subnet %s overlaps network %s (%s)", subnet, other.Name, other.Subnet)
		}
	}
	n := &Network{Name: name, Bridge: bridgeName(name), Subnet: ipnet.String(), Gateway: nthAddr(ipnet, 1).String()}
	return n, safefile.WriteJSON(filepath.Join(s.Root, name+".json"), n, 0o644)
}

func bridgeName(name string) string {
	if name == DefaultName {
		return "skiff0"
	}
	b := "skiff-" + name
	return b[:min(len(b), unix.IFNAMSIZ-1)]
}

func freeSubnet(all []*Network) string {
	used := map[string]bool{}
	for _, n := range all {
		used[n.Subnet] = true
	}
	for i := 78; i < 255; i++ {
		if s := fmt.Sprintf("10.%d.0.0/24", i); !used[s] {
			return s
		}
	}
	return ""
}

// List returns every network, the default one included.
func (s *Store) List() ([]*Network, error) {
	if _, err := s.Get(DefaultName); err != nil {
		return nil, err
	}
	return s.list()
}

func (s *Store) list() ([]*Network, error) {
	files, _ := filepath.Glob(filepath.Join(s.Root, "*.json"))
	var all []*Network
	for _, f := range files {
		var n Network
		data, err := os.ReadFile(f)
		if err == nil && json.Unmarshal(data, &n) == nil {
			all = append(all, &n)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	return all, nil
}

// Remove deletes a network that no container uses, and its bridge.
func (s *Store) Remove(name string) error {
	n, err := s.Get(name)
	if err != nil {
		return err
	}
	if users := s.Endpoints(n); len(users) > 0 {
		return fmt.Errorf("network %s is in use by %d container(s)", name, len(users))
	}
	if link, err := netlink.LinkByName(n.Bridge); err == nil {
		if err := netlink.LinkDel(link); err != nil {
			return fmt.Errorf("ip link del %s: %w", n.Bridge, err)
		}
	}
	deleteTable(networkTable(n).Name)
	os.RemoveAll(filepath.Join(s.Root, name))
	return os.Remove(filepath.Join(s.Root, name+".json"))
}

// RemoveOrphans takes down what a network whose file was deleted by hand
// left behind (`network rm` does it itself): the addresses of containers
// that owned says are gone, then, once no address is left, its folder,
// nftables table and bridge. It returns the names of the networks it
// took down.
func (s *Store) RemoveOrphans(owned func(id string) bool) []string {
	bridges := map[string]bool{} // in use by networks that exist
	existing, _ := s.list()
	for _, n := range existing {
		bridges[n.Bridge] = true
	}
	var names []string
	for _, table := range listTables(networkTablePrefix) {
		n := &Network{Name: strings.TrimPrefix(table, networkTablePrefix)}
		if _, err := os.Stat(filepath.Join(s.Root, n.Name+".json")); !errors.Is(err, os.ErrNotExist) {
			continue
		}
		inUse := false
		for _, ep := range s.Endpoints(n) {
			if owned(ep.ID) {
				inUse = true
			} else {
				s.Detach(n, ep.ID, ep.IP)
			}
		}
		if inUse {
			continue
		}
		deleteTable(table)
		if bridge := bridgeName(n.Name); !bridges[bridge] { // names are cut to 15 bytes
			if link, err := netlink.LinkByName(bridge); err == nil {
				netlink.LinkDel(link)
			}
		}
		os.RemoveAll(filepath.Join(s.Root, n.Name))
		names = append(names, n.Name)
	}
	return names
}

func (n *Network) ipnet() *net.IPNet {
	_, ipnet, _ := net.ParseCIDR(n.Subnet)
	return ipnet
}

// nthAddr is the n-th address of a subnet.
func nthAddr(ipnet *net.IPNet, n uint32) net.IP {
	ip := ipnet.IP.To4()
	v := uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3]) + n
	return net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)).To4()
}

// Endpoint is one address in use on a network.
type Endpoint struct {
	IP, ID, Name, HostsFile string
}

func (s *Store) ipsDir(n *Network) string { return filepath.Join(s.Root, n.Name, "ips") }

// Endpoints lists the addresses in use on a network.
func (s *Store) Endpoints(n *Network) []Endpoint {
	entries, _ := os.ReadDir(s.ipsDir(n))
	var eps []Endpoint
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(s.ipsDir(n), e.Name()))
		fields := strings.Fields(string(data))
		if err != nil || len(fields) != 3 {
			continue // being written right now
		}
		eps = append(eps, Endpoint{IP: e.Name(), ID: fields[0], Name: fields[1], HostsFile: fields[2]})
	}
	return eps
}

// allocate takes the first free address. Creating its file with O_EXCL is
// atomic, so concurrent runs never share an address; the files live on
// disk, so allocations survive a restart of skiff.
func (s *Store) allocate(n *Network, ep Endpoint) (net.IP, error) {
	dir := s.ipsDir(n)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ipnet := n.ipnet()
	ones, bits := ipnet.Mask.Size()
	for i := uint32(2); i < 1<<(bits-ones)-1; i++ {
		ip := nthAddr(ipnet, i)
		f, err := os.OpenFile(filepath.Join(dir, ip.String()), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		_, err = fmt.Fprintf(f, "%s %s %s\n", ep.ID, ep.Name, ep.HostsFile)
		f.Close()
		return ip, err
	}
	return nil, fmt.Errorf("network %s: no free address left in %s", n.Name, n.Subnet)
}

func (s *Store) release(n *Network, ip string) {
	if ip != "" {
		os.Remove(filepath.Join(s.ipsDir(n), ip))
	}
}
