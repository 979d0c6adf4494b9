package cli

import (
	"os"
	"testing"
)

func TestParseVolumeFlag(t *testing.T) {
	good := map[string]mountRequest{
		"/data":              {Type: "volume", Target: "/data"},
		"/data:ro":           {Type: "volume", Target: "/data", ReadOnly: true},
		"cache:/data":        {Type: "volume", Source: "cache", Target: "/data"},
		"cache:/data:ro":     {Type: "volume", Source: "cache", Target: "/data", ReadOnly: true},
		"cache:/d:ro,nocopy": {Type: "volume", Source: "cache", Target: "/d", ReadOnly: true, NoCopy: true},
		"/host:/data":        {Type: "bind", Source: "/host", Target: "/data"},
		"/host:/data:rw":     {Type: "bind", Source: "/host", Target: "/data"},
	}
	for spec, want := range good {
		if got, err := parseVolumeFlag(spec); err != nil || got != want {
			t.Errorf("parseVolumeFlag(%q) = %+v, %v; want %+v", spec, got, err, want)
		}
	}
	for _, spec := range []string{"", "data", "../x:/x", "a/b:/x", ".:/x", "x:/", "/h:relative", "/h:/c:rx", "/h:/c:nocopy",
		"a:/b:ro:extra", "-x:/x", "x:/x"} {
		if got, err := parseVolumeFlag(spec); err == nil {
			t.Errorf("parseVolumeFlag(%q) = %+v, want an error", spec, got)
		}
	}
}

func TestParseMountFlag(t *testing.T) {
	good := map[string]mountRequest{
		"type=bind,source=/h,target=/c,readonly":          {Type: "bind", Source: "/h", Target: "/c", ReadOnly: true},
		"type=bind,src=/h,dst=/c,bind-propagation=rslave": {Type: "bind", Source: "/h", Target: "/c", Propagation: "rslave"},
		"src=v1,destination=/c,ro=false":                  {Type: "volume", Source: "v1", Target: "/c"},
		"type=volume,target=/c,volume-nocopy":             {Type: "volume", Target: "/c", NoCopy: true},
		"type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770": {Type: "tmpfs", Target: "/t", TmpfsSize: 1 << 20, TmpfsMode: os.FileMode(0o1770)},
		`"type=bind","src=/a,b",dst=/c`:                   {Type: "bind", Source: "/a,b", Target: "/c"},
	}
	for spec, want := range good {
		if got, err := parseMountFlag(spec); err != nil || got != want {
			t.Errorf("parseMountFlag(%q) = %+v, %v; want %+v", spec, got, err, want)
		}
	}
	for _, spec := range []string{"", "type=bind,src=rel,dst=/c", "type=volume,src=../x,dst=/c", "type=tmpfs,src=x,dst=/t",
		"type=nfs,dst=/c", "dst=relative", "type=volume,dst=/", "bogus=1,dst=/c", "type=tmpfs,dst=/t,tmpfs-size=lots",
		"type=tmpfs,dst=/t,tmpfs-mode=999", "type=volume,dst=/t,tmpfs-size=1m", "type=bind,src=/h,dst=/c,bind-propagation=odd",
		"type=volume,dst=/c,bind-propagation=shared", "type=bind,src=/h,dst=/c,volume-nocopy", "dst=/c,readonly=maybe",
		"type=volume,dst=/c,volume-driver=nfs", `"unterminated,dst=/c`} {
		if got, err := parseMountFlag(spec); err == nil {
			t.Errorf("parseMountFlag(%q) = %+v, want an error", spec, got)
		}
	}
}
