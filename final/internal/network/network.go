// Package network gives containers their networks, as lesson 07 does, and
// adds what a real runtime needs: named bridge networks, an address
// allocator that survives restarts and concurrent runs, container names in
// /etc/hosts, and clean removal.
//
// On disk, under ROOT/networks (ROOT is the data root, /var/lib/skiff):
//
//	NAME.json        the network: bridge, subnet, gateway
//	NAME/ips/ADDR    one file per address in use: "ID NAME HOSTSFILE HOSTNAME EXTRAHOSTS"
//	ports/PORT       one file per published host port (PORT.udp for UDP): the container's ID
//	_connected/ID    the networks container ID was connected to after it started, one a line
//	                 (no network's name starts with "_": `network rm` of none deletes the folder)
//
// Several instances of skiff, each with a data root of its own, can share
// a host: names.go tells how the names they give on the host stay apart,
// subnet.go how their subnets do.
package network

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"

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

// Store is the folder of networks of one instance of skiff.
type Store struct {
	Root string // ROOT/networks
	Tag  string // the instance's tag, InstanceTag(ROOT), in the names it gives on the host
	// Notice, if not nil, is told of changes to the host's settings.
	Notice io.Writer
}

var validName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$`) })

// ErrNotFound is the error of Get for a network that does not exist.
var ErrNotFound = errors.New("not found")

// Get returns a network; the default one is made on first use.
func (s *Store) Get(name string) (*Network, error) {
	n, err := s.read(name)
	if errors.Is(err, ErrNotFound) && name == DefaultName {
		return s.create(DefaultName, "", true)
	}
	return n, err
}

// read reads a network's file.
func (s *Store) read(name string) (*Network, error) {
	if !validName().MatchString(name) {
		return nil, fmt.Errorf("network %q %w", name, ErrNotFound)
	}
	var n Network
	err := safefile.ReadJSON(filepath.Join(s.Root, name+".json"), &n)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("network %s %w", name, ErrNotFound)
	}
	if err == nil && (n.Name != name || !validBridge().MatchString(n.Bridge) || n.ipnet() == nil) {
		err = fmt.Errorf("network %s: bad file %s", name, filepath.Join(s.Root, name+".json"))
	}
	if err != nil {
		return nil, err
	}
	return &n, nil
}

// Create makes a network with the subnet given, or a free one, and its
// bridge: the bridge's address claims the subnet on the host, against
// other instances of skiff.
func (s *Store) Create(name, subnet string) (*Network, error) {
	return s.create(name, subnet, false)
}

// create is Create; with existingOK, a network of that name is returned
// as it is (concurrent runs all make the default network).
func (s *Store) create(name, subnet string, existingOK bool) (*Network, error) {
	if !validName().MatchString(name) {
		return nil, fmt.Errorf("invalid network name %q", name)
	}
	if err := os.MkdirAll(s.Root, 0o755); err != nil {
		return nil, err
	}
	unlock, err := lockHost()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if n, err := s.read(name); !errors.Is(err, ErrNotFound) {
		if err == nil && !existingOK {
			err = fmt.Errorf("network %s already exists", name)
		}
		return n, err
	}
	all, _ := s.list()
	var used []usedNet
	for _, other := range all {
		if ipnet := other.ipnet(); ipnet != nil {
			used = append(used, usedNet{ipnet, fmt.Sprintf("network %s (%s)", other.Name, other.Subnet)})
		}
	}
	onHost, err := hostNets()
	if err != nil {
		return nil, err
	}
	used = append(used, onHost...)
	if subnet == "" {
		if subnet, err = freeSubnet(name, used); err != nil {
			return nil, err
		}
	}
	_, ipnet, err := net.ParseCIDR(subnet)
	if err != nil || ipnet.IP.To4() == nil {
		return nil, fmt.Errorf("invalid subnet %q: want an IPv4 CIDR such as 10.78.0.0/24", subnet)
	}
	if ones, _ := ipnet.Mask.Size(); ones > 29 || ones < 8 {
		return nil, fmt.Errorf("subnet %s: want a prefix from /8 to /29", subnet)
	}
	if err := checkFree(ipnet, used); err != nil {
		return nil, err
	}
	n := &Network{Name: name, Bridge: s.bridgeName(name), Subnet: ipnet.String(), Gateway: nthAddr(ipnet, 1).String()}
	if alias, exists := linkAlias(n.Bridge); exists {
		return nil, fmt.Errorf("network %s: its bridge's name %s is taken by a link already there (alias %q); "+
			"`skiff system prune` removes the bridge of a network whose file was deleted", name, n.Bridge, alias)
	}
	if err := safefile.WriteJSON(filepath.Join(s.Root, name+".json"), n, 0o644); err != nil {
		return nil, err
	}
	if _, err := s.setUpBridge(n); err != nil {
		s.takeDown(n)
		return nil, err
	}
	return n, nil
}

// List returns every network. It does not make the default one, which
// would claim a subnet and make a bridge: `network ls` and prune show it
// once a container used it.
func (s *Store) List() ([]*Network, error) { return s.list() }

func (s *Store) list() ([]*Network, error) {
	files, _ := filepath.Glob(filepath.Join(s.Root, "*.json"))
	var all []*Network
	for _, f := range files {
		if n, err := s.read(strings.TrimSuffix(filepath.Base(f), ".json")); err == nil {
			all = append(all, n)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	return all, nil
}

// Remove deletes a network that no container uses, and its bridge.
func (s *Store) Remove(name string) error {
	unlock, err := lockHost()
	if err != nil {
		return err
	}
	defer unlock()
	if name == DefaultName {
		return fmt.Errorf("%s is a pre-defined network and cannot be removed", name)
	}
	n, err := s.read(name)
	if err != nil {
		return err
	}
	if users := s.Endpoints(n); len(users) > 0 {
		return fmt.Errorf("network %s is in use by %d container(s)", name, len(users))
	}
	return s.takeDown(n)
}

// takeDown deletes a network's bridge (if it is this network's), table,
// folder and file.
func (s *Store) takeDown(n *Network) error {
	if s.ownsBridge(n) {
		if link, err := netlink.LinkByName(n.Bridge); err == nil {
			if err := netlink.LinkDel(link); err != nil {
				return fmt.Errorf("ip link del %s: %w", n.Bridge, err)
			}
		}
	}
	deleteTable(s.networkTable(n.Name).Name)
	os.RemoveAll(filepath.Join(s.Root, n.Name))
	return os.Remove(filepath.Join(s.Root, n.Name+".json"))
}

// RemoveOrphans takes down what a network whose file was deleted by hand
// left behind (`network rm` does it itself): the addresses of containers
// that owned says are gone, then, once no address is left, its folder,
// nftables table and bridge. It finds them by this instance's names
// only: another instance's are not orphans. It returns the names of the
// networks it took down.
func (s *Store) RemoveOrphans(owned func(id string) bool) []string {
	orphans := map[string]string{} // name: bridge, if there is one
	tablePrefix := s.tablePrefix() + "net-"
	for _, table := range listTables(tablePrefix) {
		orphans[strings.TrimPrefix(table, tablePrefix)] = ""
	}
	for name, bridge := range s.ownBridges() {
		orphans[name] = bridge
	}
	dirs, _ := filepath.Glob(filepath.Join(s.Root, "*", "ips"))
	for _, d := range dirs {
		if name := filepath.Base(filepath.Dir(d)); orphans[name] == "" {
			orphans[name] = "" // a folder of addresses, without table or bridge
		}
	}
	var names []string
	for name, bridge := range orphans {
		if _, err := os.Stat(filepath.Join(s.Root, name+".json")); !validName().MatchString(name) || !errors.Is(err, os.ErrNotExist) {
			continue
		}
		n := &Network{Name: name}
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
		deleteTable(s.networkTable(name).Name)
		if link, err := netlink.LinkByName(bridge); bridge != "" && err == nil {
			netlink.LinkDel(link)
		}
		os.RemoveAll(filepath.Join(s.Root, name))
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// ownBridges finds this instance's bridges by their alias: the name of
// each one's network, and the bridge.
func (s *Store) ownBridges() map[string]string {
	links, _ := netlink.LinkList()
	bridges := map[string]string{}
	for _, l := range links {
		if name, ok := strings.CutPrefix(l.Attrs().Alias, s.ownerPrefix()); ok {
			bridges[name] = l.Attrs().Name
		}
	}
	return bridges
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

// Endpoint is one address in use on a network, and the names it answers
// to in the hosts files: the container's name, its hostname and the start
// of its ID. ExtraHosts (--add-host, NAME:IP) go into its own hosts file.
type Endpoint struct {
	IP, ID, Name, HostsFile, Hostname string
	ExtraHosts                        []string
}

func (s *Store) ipsDir(n *Network) string { return filepath.Join(s.Root, n.Name, "ips") }

// Endpoints lists the addresses in use on a network.
func (s *Store) Endpoints(n *Network) []Endpoint {
	entries, _ := os.ReadDir(s.ipsDir(n))
	var eps []Endpoint
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(s.ipsDir(n), e.Name()))
		fields := strings.Fields(string(data))
		if err != nil || len(fields) < 3 || len(fields) > 5 || len(fields[0]) < 12 {
			continue // being written right now
		}
		ep := Endpoint{IP: e.Name(), ID: fields[0], Name: fields[1], HostsFile: fields[2]}
		if len(fields) >= 4 && fields[3] != "-" { // skiffs before hostnames wrote three fields
			ep.Hostname = fields[3]
		}
		if len(fields) == 5 && fields[4] != "-" { // and before --add-host, four
			ep.ExtraHosts = strings.Split(fields[4], ",")
		}
		eps = append(eps, ep)
	}
	return eps
}

// allocate takes the address ep.IP, or the first free one. Creating its
// file with O_EXCL is atomic, so concurrent runs never share an address;
// the files live on disk, so allocations survive a restart of skiff.
func (s *Store) allocate(n *Network, ep Endpoint) (net.IP, error) {
	dir := s.ipsDir(n)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	extra := "-"
	if len(ep.ExtraHosts) > 0 {
		extra = strings.Join(ep.ExtraHosts, ",")
	}
	record := fmt.Sprintf("%s %s %s %s %s\n", ep.ID, ep.Name, ep.HostsFile, cmp.Or(ep.Hostname, "-"), extra)
	if ep.IP != "" {
		ip, err := s.CheckAddress(n, ep.IP)
		if err == nil {
			err = claim(filepath.Join(dir, ip.String()), record)
		}
		if errors.Is(err, os.ErrExist) {
			err = fmt.Errorf("address %s is already in use on network %s", ip, n.Name)
		}
		return ip, err
	}
	ipnet := n.ipnet()
	ones, bits := ipnet.Mask.Size()
	for i := uint32(2); i < 1<<(bits-ones)-1; i++ {
		ip := nthAddr(ipnet, i)
		err := claim(filepath.Join(dir, ip.String()), record)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		return ip, err
	}
	return nil, fmt.Errorf("network %s: no free address left in %s", n.Name, n.Subnet)
}

// claim creates file, if nobody did, with content.
func claim(file, content string) error {
	f, err := os.OpenFile(file, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(content)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	return err
}

// CheckAddress checks that addr (--ip) can be a container's on network
// n: an IPv4 address inside its subnet, neither the subnet's first or
// last nor the gateway, and free now.
func (s *Store) CheckAddress(n *Network, addr string) (net.IP, error) {
	ip := net.ParseIP(addr).To4()
	ipnet := n.ipnet()
	if ip == nil || !strings.Contains(addr, ".") {
		return nil, fmt.Errorf("invalid address %q: want an IPv4 address", addr)
	}
	ones, bits := ipnet.Mask.Size()
	switch {
	case !ipnet.Contains(ip):
		return nil, fmt.Errorf("address %s is not in network %s's subnet %s", ip, n.Name, n.Subnet)
	case ip.Equal(nthAddr(ipnet, 0)) || ip.Equal(nthAddr(ipnet, 1<<(bits-ones)-1)):
		return nil, fmt.Errorf("address %s is the first or last of subnet %s, not a host's", ip, n.Subnet)
	case ip.Equal(net.ParseIP(n.Gateway)):
		return nil, fmt.Errorf("address %s is network %s's gateway", ip, n.Name)
	}
	if _, err := os.Lstat(filepath.Join(s.ipsDir(n), ip.String())); err == nil {
		return nil, fmt.Errorf("address %s is already in use on network %s", ip, n.Name)
	}
	return ip, nil
}

// ID is the network's ID, as `network inspect` shows it: the same for
// the same network of the same instance, different for another.
func (s *Store) ID(n *Network) string {
	sum := sha256.Sum256([]byte(s.Tag + "\x00" + n.Name + "\x00" + n.Subnet))
	return hex.EncodeToString(sum[:])
}

// release gives back the address ip, if container id still holds it: a
// second cleanup of a container that is long gone must not take the
// address away from the container that holds it now.
func (s *Store) release(n *Network, id, ip string) {
	if ip == "" {
		return
	}
	file := filepath.Join(s.ipsDir(n), ip)
	if data, err := os.ReadFile(file); err == nil && strings.HasPrefix(string(data), id+" ") {
		os.Remove(file)
	}
}
