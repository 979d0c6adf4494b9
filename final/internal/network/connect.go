package network

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
)

// A running container joins more networks with `network connect`: one
// more veth pair each, whose end inside is the first free ethN, with an
// address and the route to the network's subnet (the default route stays
// on the first network, as in Docker). The host's end is named from the
// container's ID and the network's, so that nothing else needs recording
// to find it; the network's name goes into _connected/ID before anything
// is made, so that whoever cleans up after the container (its monitor,
// `rm -f` after a kill, prune) takes the address back even if `network
// connect` itself was killed half-way. The veth pairs go with the
// container's network namespace, as the first one does.

func (s *Store) connectedFile(id string) string { return filepath.Join(s.Root, "_connected", id) }

// connectedVeth is the host's end of container id's pair on a network it
// was connected to: "veth", 8 digits of the ID, 3 of the network's hash.
func (s *Store) connectedVeth(id, network string) string {
	sum := sha256.Sum256([]byte(s.Tag + "\x00" + network))
	return "veth" + id[:8] + hex.EncodeToString(sum[:])[:3]
}

// HostVeth is the host's end of container id's pair on network n; primary
// tells whether n is the network it started on.
func (s *Store) HostVeth(n *Network, id string, primary bool) string {
	if primary {
		return "veth" + id[:8]
	}
	return s.connectedVeth(id, n.Name)
}

// Connected lists the networks container id was connected to after it
// started.
func (s *Store) Connected(id string) []string {
	data, _ := os.ReadFile(s.connectedFile(id))
	return strings.Fields(string(data))
}

// Connect connects the running container whose first process is pid
// (its endpoint ep) to network n. It returns the interface inside.
func (s *Store) Connect(n *Network, pid int, ep Endpoint) (iface string, err error) {
	if s.endpointOf(n, ep.ID) != nil {
		return "", fmt.Errorf("container %s is already connected to network %s", ep.Name, n.Name)
	}
	bridge, err := s.ensureBridge(n)
	if err != nil {
		return "", err
	}
	if iface, err = freeInterface(pid); err != nil {
		return "", err
	}
	if err := s.recordConnected(ep.ID, append(s.Connected(ep.ID), n.Name)); err != nil {
		return "", err
	}
	ip, err := s.allocate(n, ep)
	if err != nil {
		s.recordConnected(ep.ID, slices.DeleteFunc(s.Connected(ep.ID), func(name string) bool { return name == n.Name }))
		return "", err
	}
	steps := []func() error{
		func() error { return createVeth(s.connectedVeth(ep.ID, n.Name), iface, bridge, pid, false) },
		func() error { return configureInside(pid, iface, ip, n, false) },
		func() error { return s.refreshHosts(n, ep) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			s.Disconnect(n, ep.ID, false)
			return "", err
		}
	}
	return iface, nil
}

// Disconnect takes container id off network n: its veth pair, address
// and name; on its first network (primary), its published ports too.
func (s *Store) Disconnect(n *Network, id string, primary bool) error {
	ep := s.endpointOf(n, id)
	if ep == nil {
		return fmt.Errorf("container %.12s is not connected to network %s", id, n.Name)
	}
	if err := deleteLink(s.HostVeth(n, id, primary)); err != nil {
		return err
	}
	if primary && len(s.portFiles(id)) > 0 {
		s.deletePortRules(id)
		s.releasePorts(id)
	}
	s.release(n, id, ep.IP)
	s.recordConnected(id, slices.DeleteFunc(s.Connected(id), func(name string) bool { return name == n.Name }))
	return s.refreshHosts(n, *ep)
}

// detachConnected takes back the addresses of the networks container id
// was connected to, once it is gone (its veth pairs went with it).
func (s *Store) detachConnected(id string) {
	for _, name := range s.Connected(id) {
		n := &Network{Name: name}
		if ep := s.endpointOf(n, id); ep != nil {
			deleteLink(s.connectedVeth(id, name)) // there only if something still holds the namespace
			s.release(n, id, ep.IP)
			s.refreshHosts(n, Endpoint{ID: id})
		}
	}
	os.Remove(s.connectedFile(id))
}

func (s *Store) recordConnected(id string, networks []string) error {
	if len(networks) == 0 {
		os.Remove(s.connectedFile(id))
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(s.connectedFile(id)), 0o755); err != nil {
		return err
	}
	tmp := s.connectedFile(id) + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(networks, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, s.connectedFile(id))
}

// endpointOf is container id's address on network n, or nil.
func (s *Store) endpointOf(n *Network, id string) *Endpoint {
	for _, ep := range s.Endpoints(n) {
		if ep.ID == id {
			return &ep
		}
	}
	return nil
}

// deleteLink deletes a link, if it is there (a sysfs lookup first: a
// deletion that fails costs as much as one that does not).
func deleteLink(name string) error {
	if _, err := linkIndex(name); err != nil {
		return nil
	}
	link, err := netlink.LinkByName(name)
	if err != nil {
		return nil
	}
	if err := netlink.LinkDel(link); err != nil {
		return fmt.Errorf("ip link del %s: %w", name, err)
	}
	return nil
}

// freeInterface is the first name eth1, eth2... that no link in process
// pid's network namespace has.
func freeInterface(pid int) (string, error) {
	var name string
	err := inNamespace(pid, func(h *netlink.Handle) error {
		links, err := h.LinkList()
		if err != nil {
			return fmt.Errorf("ip link, in /proc/%d/ns/net: %w", pid, err)
		}
		for i := 1; ; i++ {
			name = "eth" + strconv.Itoa(i)
			if !slices.ContainsFunc(links, func(l netlink.Link) bool { return l.Attrs().Name == name }) {
				return nil
			}
		}
	})
	return name, err
}
