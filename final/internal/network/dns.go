package network

import (
	"slices"
	"strings"
)

// ResolvConf is a container's /etc/resolv.conf made from the host's: its
// nameservers on 127.0.0.0/8 left out (the host's own loopback, which a
// container's network namespace does not reach), all of them replaced by
// dns (--dns) if it is not empty, and its search domains by search
// (--dns-search; "." for none).
func ResolvConf(host string, dns, search []string) string {
	var b strings.Builder
	for _, line := range strings.Split(host, "\n") {
		key, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch {
		case line == "", strings.HasPrefix(line, "nameserver 127."),
			len(dns) > 0 && key == "nameserver",
			len(search) > 0 && (key == "search" || key == "domain"):
			continue
		}
		b.WriteString(line + "\n")
	}
	for _, ip := range dns {
		b.WriteString("nameserver " + ip + "\n")
	}
	if search = slices.DeleteFunc(slices.Clone(search), func(d string) bool { return d == "." }); len(search) > 0 {
		b.WriteString("search " + strings.Join(search, " ") + "\n")
	}
	return b.String()
}
