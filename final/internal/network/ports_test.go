package network

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestHoldPorts(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	id := strings.Repeat("a", 64)
	service, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer service.Close()
	taken := uint16(service.Addr().(*net.TCPAddr).Port)
	if _, _, err := s.publish(id, []Port{{Host: taken, Container: 80}}); err == nil || err.Error() != "port "+strconv.Itoa(int(taken))+": address already in use" {
		t.Errorf("holding a port a listener on 127.0.0.1 has: %v", err)
	}
	if files := s.portFiles(id); len(files) > 0 {
		t.Errorf("a failed publish left %v", files)
	}
	free := uint16(service.Addr().(*net.TCPAddr).Port)
	service.Close()
	_, held, err := s.publish(id, []Port{{Host: free, Container: 80}})
	if err != nil {
		t.Fatal(err)
	}
	if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(int(free))); err == nil {
		l.Close()
		t.Error("a listener took a held port")
	}
	(&Attachment{ports: held}).Close()
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(int(free)))
	if err != nil {
		t.Errorf("the port is still held after Close: %v", err)
	} else {
		l.Close()
	}
}

// TestPublishChoosesFreePorts: a port without a host port gets one that
// nothing holds, is held, and skips a port this instance's folder has.
func TestPublishChoosesFreePorts(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	a, b := strings.Repeat("a", 64), strings.Repeat("b", 64)
	chosen, held, err := s.publish(a, []Port{{Container: 80}, {Container: 53, Proto: "udp", HostIP: "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(held)
	if len(chosen) != 2 || chosen[0].Host == 0 || chosen[1].Host == 0 || chosen[1].HostIP != "127.0.0.1" {
		t.Fatalf("chosen: %+v", chosen)
	}
	if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(int(chosen[0].Host))); err == nil {
		l.Close()
		t.Error("a listener took a chosen TCP port")
	}
	if c, err := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(int(chosen[1].Host))); err == nil {
		c.Close()
		t.Error("a socket took a chosen UDP port")
	}
	for _, p := range chosen {
		if owner, _ := os.ReadFile(s.portFile(p)); string(owner) != a {
			t.Errorf("port %s: file says %q", portName(p), owner)
		}
	}
	if _, err := os.Stat(filepath.Join(s.Root, "ports", strconv.Itoa(int(chosen[1].Host))+".udp")); err != nil {
		t.Errorf("UDP port's file: %v", err)
	}
	// Another container of this instance cannot have them.
	if _, _, err := s.publish(b, []Port{{Host: chosen[0].Host, Container: 81}}); err == nil || !strings.Contains(err.Error(), "already published by container aaaaaaaaaaaa") {
		t.Errorf("publishing a port another container holds: %v", err)
	}
}
