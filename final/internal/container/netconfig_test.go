package container

import (
	"reflect"
	"testing"
)

func TestParsePorts(t *testing.T) {
	good := map[string][]Port{
		"80":                        {{Container: 80}},
		"8080:80":                   {{Host: 8080, Container: 80}},
		"8080:80/tcp":               {{Host: 8080, Container: 80}},
		"5353:53/udp":               {{Host: 5353, Container: 53, Proto: "udp"}},
		"53/udp":                    {{Container: 53, Proto: "udp"}},
		"127.0.0.1:8080:80":         {{Host: 8080, Container: 80, HostIP: "127.0.0.1"}},
		"127.0.0.1::80":             {{Container: 80, HostIP: "127.0.0.1"}},
		"10.0.0.1::53/udp":          {{Container: 53, Proto: "udp", HostIP: "10.0.0.1"}},
		"0.0.0.0:8080:80":           {{Host: 8080, Container: 80}},
		"8000-8001:80-81":           {{Host: 8000, Container: 80}, {Host: 8001, Container: 81}},
		"80-81/udp":                 {{Container: 80, Proto: "udp"}, {Container: 81, Proto: "udp"}},
		"127.0.0.1:9000-9001:90-91": {{Host: 9000, Container: 90, HostIP: "127.0.0.1"}, {Host: 9001, Container: 91, HostIP: "127.0.0.1"}},
	}
	for spec, want := range good {
		got, err := ParsePorts(spec)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ParsePorts(%q) = %+v, %v; want %+v", spec, got, err, want)
		}
	}
	for _, spec := range []string{"", "0", "65536", "80/sctp", "80/", ":80", "a:80", "8080:80:90:100", "localhost:8080:80",
		"::1:8080:80", "300.0.0.1:8080:80", "8000-8002:80-81", "81-80", "8080:0", "80/tcp/udp", "-80", "8080: 80"} {
		if got, err := ParsePorts(spec); err == nil {
			t.Errorf("ParsePorts(%q) = %+v, want an error", spec, got)
		}
	}
	if _, err := ParseExposed("8080:80"); err == nil {
		t.Error("ParseExposed took a host port")
	}
}

func TestPortStrings(t *testing.T) {
	p := Port{Host: 5353, Container: 53, Proto: "udp", HostIP: "127.0.0.1"}
	if got := p.String(); got != "127.0.0.1:5353->53/udp" {
		t.Errorf("String: %q", got)
	}
	if got := (Port{Host: 8080, Container: 80}).String(); got != "0.0.0.0:8080->80/tcp" {
		t.Errorf("String: %q", got)
	}
}

func TestParseExtraHost(t *testing.T) {
	for spec, want := range map[string]string{"db:10.0.0.5": "db 10.0.0.5", "db=10.0.0.5": "db 10.0.0.5", "v6.example:::1": "v6.example ::1",
		"a-b.c:[fe80::1]": "a-b.c fe80::1"} {
		name, ip, err := ParseExtraHost(spec)
		if err != nil || name+" "+ip.String() != want {
			t.Errorf("ParseExtraHost(%q) = %q %v, %v", spec, name, ip, err)
		}
	}
	for _, spec := range []string{"db", "db:", ":10.0.0.5", "db:host", "d b:10.0.0.5", "db\n1.2.3.4 evil:10.0.0.5", "db,x:10.0.0.5", "-db:10.0.0.5"} {
		if _, _, err := ParseExtraHost(spec); err == nil {
			t.Errorf("ParseExtraHost(%q) accepted it", spec)
		}
	}
	for _, d := range []string{"a b", "a\nnameserver 1.1.1.1", ""} {
		if ParseDNSSearch(d) == nil {
			t.Errorf("ParseDNSSearch(%q) accepted it", d)
		}
	}
}
