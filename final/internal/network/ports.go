package network

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"skiff/internal/container"
)

// Port is one published TCP port.
type Port = container.Port

// A published port is taken twice: in this instance's folder, where the
// file names the container that holds it, and on the host, by a socket
// bound to it for the container's life, as Docker's proxy holds its
// ports. The DNAT rules would otherwise take the port away from a host
// service that listens on it, or from another instance of skiff, without
// a word: binding fails instead, at once and without a race, since the
// kernel makes one bind at a time.

// reservePorts takes the host ports, one O_EXCL file each under
// ROOT/ports: two containers of this instance cannot publish the same
// port.
func (s *Store) reservePorts(id string, ports []Port) error {
	dir := filepath.Join(s.Root, "ports")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, p := range ports { // each host port once: the run's flags are checked before
		file := filepath.Join(dir, strconv.Itoa(int(p.Host)))
		f, err := os.OpenFile(file, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if errors.Is(err, os.ErrExist) {
			owner, _ := os.ReadFile(file)
			s.releasePorts(id)
			return fmt.Errorf("port %d is already published by container %.12s", p.Host, owner)
		}
		if err != nil {
			s.releasePorts(id)
			return err
		}
		f.WriteString(id)
		f.Close()
	}
	return nil
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

// holdPorts binds a TCP socket to 0.0.0.0:PORT for each host port. It
// needs neither listen(2) nor SO_REUSEADDR: a bound socket is enough to
// make every other bind of the port fail, on any address, and fails
// itself if anything (a listener on 127.0.0.1 included) holds the port.
func holdPorts(ports []Port) ([]*os.File, error) {
	var held []*os.File
	for _, p := range ports {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			closeAll(held)
			return nil, fmt.Errorf("socket: %w", err)
		}
		f := os.NewFile(uintptr(fd), "port "+strconv.Itoa(int(p.Host)))
		if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(p.Host)}); err != nil {
			f.Close()
			closeAll(held)
			return nil, fmt.Errorf("port %d: %w", p.Host, err)
		}
		held = append(held, f)
	}
	return held, nil
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
