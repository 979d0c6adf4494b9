package network

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"skiff/internal/container"
)

// Port is one published port.
type Port = container.Port

// A published port is taken twice: in this instance's folder, where the
// file names the container that holds it, and on the host, by a socket
// bound to it for the container's life, as Docker's proxy holds its
// ports. The DNAT rules would otherwise take the port away from a host
// service that listens on it, or from another instance of skiff, without
// a word: binding fails instead, at once and without a race, since the
// kernel makes one bind at a time.

// publish takes the host ports and returns them, with the free ports
// it chose for those whose Host is 0 (-P, -p CTR), and the sockets that
// hold them. A port given is first reserved in the folder (a clearer
// error if this instance holds it), then bound; a port to choose is bound
// to port 0 first, so that the kernel picks one that nothing holds, and
// then reserved: if the folder has it (a container whose runtime was
// killed left its file), the next one the kernel picks is tried. Either
// way the port is held from the moment it is chosen, and no other
// process, skiff or not, can take it in between.
func (s *Store) publish(id string, ports []Port) ([]Port, []*os.File, error) {
	if err := os.MkdirAll(filepath.Join(s.Root, "ports"), 0o755); err != nil {
		return nil, nil, err
	}
	var chosen []Port
	var held []*os.File
	for _, p := range ports {
		f, err := s.takePort(id, &p)
		if err != nil {
			closeAll(held)
			s.releasePorts(id)
			return nil, nil, err
		}
		chosen, held = append(chosen, p), append(held, f)
	}
	return chosen, held, nil
}

// takePort takes one host port, and sets p.Host to it if it was 0.
func (s *Store) takePort(id string, p *Port) (*os.File, error) {
	if p.Host != 0 {
		if owner, err := s.reservePort(id, *p); err != nil || owner != "" {
			return nil, cmp.Or(err, fmt.Errorf("port %s is already published by container %.12s", portName(*p), owner))
		}
		return holdPort(p)
	}
	for range 64 {
		f, err := holdPort(p)
		if err != nil {
			return nil, err
		}
		owner, err := s.reservePort(id, *p)
		if err == nil && owner == "" {
			return f, nil
		}
		f.Close()
		if err != nil {
			return nil, err
		}
		p.Host = 0
	}
	return nil, fmt.Errorf("port %s: no free host port found", portName(*p))
}

// reservePort takes the host port in this instance's folder: one O_EXCL
// file, ports/PORT (ports/PORT.udp for UDP), that names its container.
// Two containers of this instance cannot publish the same port: owner is
// the container that has it already.
func (s *Store) reservePort(id string, p Port) (owner string, err error) {
	file := s.portFile(p)
	f, err := os.OpenFile(file, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if errors.Is(err, os.ErrExist) {
		data, _ := os.ReadFile(file)
		return cmp.Or(string(data), "?"), nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	_, err = f.WriteString(id)
	return "", err
}

func (s *Store) portFile(p Port) string {
	name := strconv.Itoa(int(p.Host))
	if p.Protocol() == "udp" {
		name += ".udp"
	}
	return filepath.Join(s.Root, "ports", name)
}

// portName is a host port in errors: 8080, 8080/udp, 127.0.0.1:8080.
func portName(p Port) string {
	name := strconv.Itoa(int(p.Host))
	if p.HostIP != "" {
		name = p.HostAddr()
	}
	if p.Protocol() == "udp" {
		name += "/udp"
	}
	return name
}

// releasePorts gives back every host port container id holds.
func (s *Store) releasePorts(id string) {
	for _, f := range s.portFiles(id) {
		os.Remove(f)
	}
}

// portFiles are the reservations of container id's host ports.
func (s *Store) portFiles(id string) []string {
	files, _ := filepath.Glob(filepath.Join(s.Root, "ports", "*"))
	var held []string
	for _, f := range files {
		if owner, _ := os.ReadFile(f); string(owner) == id {
			held = append(held, f)
		}
	}
	return held
}

// holdPort binds a socket of the port's protocol to its host address
// (0.0.0.0 if none) and port, or to a free port the kernel picks if
// p.Host is 0, and sets p.Host to it. It needs neither listen(2) nor
// SO_REUSEADDR: a bound socket is enough to make every other bind of the
// port fail, on any address, and fails itself if anything (a listener on
// 127.0.0.1 included) holds the port.
func holdPort(p *Port) (*os.File, error) {
	kind := unix.SOCK_STREAM
	if p.Protocol() == "udp" {
		kind = unix.SOCK_DGRAM
	}
	fd, err := unix.Socket(unix.AF_INET, kind|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	f := os.NewFile(uintptr(fd), "port "+portName(*p))
	addr := &unix.SockaddrInet4{Port: int(p.Host)}
	if p.HostIP != "" {
		ip := net.ParseIP(p.HostIP).To4()
		if ip == nil {
			f.Close()
			return nil, fmt.Errorf("port %s: %q is not an IPv4 address", portName(*p), p.HostIP)
		}
		addr.Addr = [4]byte(ip)
	}
	if err := unix.Bind(fd, addr); err != nil {
		f.Close()
		return nil, fmt.Errorf("port %s: %w", portName(*p), err)
	}
	if p.Host == 0 {
		sa, err := unix.Getsockname(fd)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("getsockname: %w", err)
		}
		p.Host = uint16(sa.(*unix.SockaddrInet4).Port)
	}
	return f, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// PortHolders lists the containers that hold host ports of this
// instance, by ID, each once.
func (s *Store) PortHolders() []string {
	files, _ := filepath.Glob(filepath.Join(s.Root, "ports", "*"))
	seen := map[string]bool{}
	var ids []string
	for _, f := range files {
		if owner, err := os.ReadFile(f); err == nil && !seen[string(owner)] {
			seen[string(owner)] = true
			ids = append(ids, string(owner))
		}
	}
	return ids
}
