package network

import (
	"net"
	"strings"
	"testing"
)

func TestInstanceNames(t *testing.T) {
	if tag := InstanceTag("/var/lib/skiff/"); tag != "" {
		t.Errorf("the default data root's tag is %q, want \"\"", tag)
	}
	tag := InstanceTag("/tmp/x/lib")
	if len(tag) != 6 || tag == InstanceTag("/tmp/y/lib") {
		t.Errorf("tags %q and %q", tag, InstanceTag("/tmp/y/lib"))
	}
	def, other := &Store{}, &Store{Tag: tag}
	if def.bridgeName(DefaultName) != "skiff0" || other.bridgeName(DefaultName) == "skiff0" {
		t.Errorf("default networks' bridges: %s and %s", def.bridgeName(DefaultName), other.bridgeName(DefaultName))
	}
	for _, s := range []*Store{def, other} {
		a, b := s.bridgeName("aaaaaaaaa-one"), s.bridgeName("aaaaaaaaa-two")
		if a == b || len(a) != 15 || !strings.HasPrefix(a, "skiff") {
			t.Errorf("bridges %s and %s", a, b)
		}
	}
	if def.bridgeName("x") == other.bridgeName("x") {
		t.Error("two instances give network x the same bridge")
	}
	// The default instance's prefix must not match a tagged one's names.
	if strings.HasPrefix(other.networkTable("x").Name, def.tablePrefix()) ||
		strings.HasPrefix(other.natTable("0123456789abcdef").Name, def.tablePrefix()) {
		t.Errorf("%s lists %s and %s", def.tablePrefix(), other.networkTable("x").Name, other.natTable("0123456789abcdef").Name)
	}
	if def.networkTable("x").Name != "skiff-net-x" || other.natTable("0123456789abcdef").Name != "skiff"+tag+"-0123456789ab" {
		t.Errorf("tables %s, %s", def.networkTable("x").Name, other.natTable("0123456789abcdef").Name)
	}
}

func TestFreeSubnet(t *testing.T) {
	used := func(cidrs ...string) []usedNet {
		var u []usedNet
		for _, c := range cidrs {
			_, ipnet, _ := net.ParseCIDR(c)
			u = append(u, usedNet{ipnet, c})
		}
		return u
	}
	for _, c := range []struct {
		name string
		used []usedNet
		want string
	}{
		{DefaultName, nil, "10.77.0.0/24"},
		{DefaultName, used("10.77.0.1/24", "10.0.2.15/24"), "10.77.1.0/24"},
		{DefaultName, used("10.77.0.0/23"), "10.77.2.0/24"},
		{"n", used("10.78.0.0/24"), "10.79.0.0/24"},
		{"n", used("10.64.0.0/10"), "10.128.0.0/24"},
	} {
		if got, err := freeSubnet(c.name, c.used); got != c.want || err != nil {
			t.Errorf("freeSubnet(%s, %v) = %s, %v; want %s", c.name, c.used, got, err, c.want)
		}
	}
	if _, err := freeSubnet(DefaultName, used("10.77.0.0/16")); err == nil {
		t.Error("no error when every candidate is taken")
	}
	_, ipnet, _ := net.ParseCIDR("10.5.0.0/16")
	if err := checkFree(ipnet, used("10.0.0.0/8")); err == nil || !strings.Contains(err.Error(), "overlaps 10.0.0.0/8") {
		t.Errorf("checkFree: %v", err)
	}
}
