package network

import (
	"net"
	"strconv"
	"testing"
)

func TestHoldPorts(t *testing.T) {
	service, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer service.Close()
	taken := uint16(service.Addr().(*net.TCPAddr).Port)
	if _, err := holdPorts([]Port{{Host: taken, Container: 80}}); err == nil || err.Error() != "port "+strconv.Itoa(int(taken))+": address already in use" {
		t.Errorf("holding a port a listener on 127.0.0.1 has: %v", err)
	}
	free := uint16(service.Addr().(*net.TCPAddr).Port)
	service.Close()
	held, err := holdPorts([]Port{{Host: free, Container: 80}})
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
