package network

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Containers on a user-defined network reach each other by name through
// their /etc/hosts: each one lists every container of every user-defined
// network it is on, and skiff rewrites the files of a network's
// containers whenever one joins or leaves it. On the default network a
// container's file lists itself alone: there, as in Docker, containers do
// not know each other by name. Hosts files rather than a DNS server: no
// process to keep running beside the containers, and every libc,
// busybox's included, reads /etc/hosts first.

// refreshHosts rewrites the hosts files that a change of container
// self.ID on network n changes: its own (if it still has an address
// somewhere, or self.HostsFile is set) and, on a user-defined network,
// those of every container on n.
func (s *Store) refreshHosts(n *Network, self Endpoint) error {
	byNetwork := s.allEndpoints()
	targets := map[string]Endpoint{}
	if self.HostsFile != "" {
		targets[self.ID] = self
	}
	for name, eps := range byNetwork {
		for _, ep := range eps {
			if ep.ID == self.ID || (name == n.Name && name != DefaultName) {
				targets[ep.ID] = ep
			}
		}
	}
	var errs []error
	for id, ep := range targets {
		errs = append(errs, rewrite(ep.HostsFile, []byte(hostsOf(id, byNetwork, ep.ExtraHosts))))
	}
	return errors.Join(errs...)
}

// allEndpoints lists the addresses in use on every network of this
// instance, by network name.
func (s *Store) allEndpoints() map[string][]Endpoint {
	dirs, _ := filepath.Glob(filepath.Join(s.Root, "*", "ips"))
	all := map[string][]Endpoint{}
	for _, d := range dirs {
		name := filepath.Base(filepath.Dir(d))
		all[name] = s.Endpoints(&Network{Name: name})
	}
	return all
}

// hostsOf is the hosts file of container id: localhost, the containers
// of its user-defined networks (itself alone on the default network),
// then its --add-host entries.
func hostsOf(id string, byNetwork map[string][]Endpoint, extra []string) string {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	names := make([]string, 0, len(byNetwork))
	for name := range byNetwork {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		eps := byNetwork[name]
		if !slices.ContainsFunc(eps, func(ep Endpoint) bool { return ep.ID == id }) {
			continue
		}
		for _, ep := range eps {
			if name == DefaultName && ep.ID != id {
				continue
			}
			fmt.Fprintf(&b, "%s\t%s\n", ep.IP, strings.Join(ep.names(), " "))
		}
	}
	b.WriteString(ExtraHostsLines(extra))
	return b.String()
}

// ExtraHostsLines are the lines of /etc/hosts for --add-host's NAME:IP
// entries, checked before they were stored.
func ExtraHostsLines(extra []string) string {
	var b strings.Builder
	for _, e := range extra {
		if name, ip, ok := strings.Cut(e, ":"); ok {
			fmt.Fprintf(&b, "%s\t%s\n", ip, name)
		}
	}
	return b.String()
}

// rewrite replaces a file's content in place: each hosts file is
// bind-mounted into its container, and a rename would leave the mount on
// the old file. It never creates the file: a container being removed
// meanwhile deletes its own, and rm would fail on a folder that is not
// empty if the file came back.
func rewrite(file string, data []byte) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_TRUNC|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	return err
}

// names are the names an endpoint answers to, each once.
func (ep Endpoint) names() []string {
	var names []string
	for _, name := range []string{ep.Name, ep.Hostname, ep.ID[:12]} {
		if name != "" && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names
}
