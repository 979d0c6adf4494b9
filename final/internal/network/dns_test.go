package network

import "testing"

func TestResolvConf(t *testing.T) {
	host := "domain lan\nsearch lan corp\nnameserver 127.0.0.53\nnameserver 10.0.0.2\noptions edns0\n"
	for _, c := range []struct {
		dns, search []string
		want        string
	}{
		{nil, nil, "domain lan\nsearch lan corp\nnameserver 10.0.0.2\noptions edns0\n"},
		{[]string{"10.1.1.1", "10.1.1.2"}, nil, "domain lan\nsearch lan corp\noptions edns0\nnameserver 10.1.1.1\nnameserver 10.1.1.2\n"},
		{nil, []string{"example.com", "b.example"}, "nameserver 10.0.0.2\noptions edns0\nsearch example.com b.example\n"},
		{nil, []string{"."}, "nameserver 10.0.0.2\noptions edns0\n"},
	} {
		if got := ResolvConf(host, c.dns, c.search); got != c.want {
			t.Errorf("ResolvConf(%v, %v) =\n%s\nwant\n%s", c.dns, c.search, got, c.want)
		}
	}
}
