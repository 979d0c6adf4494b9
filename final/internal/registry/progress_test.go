package registry

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestBar(t *testing.T) {
	for _, c := range []struct {
		done, total int64
		want        string
	}{
		{0, 1000, "[>         ] 0 B / 1.0 kB"},
		{500, 1000, "[=====>    ] 500 B / 1.0 kB"},
		{1000, 1000, "[==========] 1.0 kB / 1.0 kB"},
		{2000, 1000, "[==========] 1.0 kB / 1.0 kB"},
		{1500, 0, "downloading 1.5 kB"},
	} {
		if got := Bar(c.done, c.total, 10); got != c.want {
			t.Errorf("Bar(%d, %d) = %q, want %q", c.done, c.total, got, c.want)
		}
	}
}

// TestProgressCountsBlobs: the transport counts a blob's bytes under its
// digest, through a redirect; a layer's report is one line without a
// terminal, and bars redrawn with a carriage return on one.
func TestProgressCountsBlobs(t *testing.T) {
	blob := strings.Repeat("x", 3000)
	mux := http.NewServeMux()
	mux.HandleFunc("/v2/img/blobs/sha256:abc", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/cdn/data", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/cdn/data", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, blob) })
	server := httptest.NewServer(mux)
	defer server.Close()
	for _, terminal := range []bool{false, true} {
		var out bytes.Buffer
		p := NewProgress(&out, terminal)
		p.every = 0
		client := &http.Client{Transport: p.Transport(http.DefaultTransport)}
		resp, err := client.Get(server.URL + "/v2/img/blobs/sha256:abc")
		if err != nil {
			t.Fatal(err)
		}
		tracked := p.Track(resp.Body, "abc", "sha256:abc", 3000)
		io.Copy(io.Discard, tracked)
		resp.Body.Close()
		tracked.Done()
		if got := p.counter("sha256:abc").Load(); got != 3000 {
			t.Errorf("counted %d bytes, want 3000", got)
		}
		switch text := out.String(); {
		case !terminal && text != "abc: pull complete, 3.0 kB\n":
			t.Errorf("without a terminal: %q, want one line", text)
		case terminal && (!strings.Contains(text, "\rabc: [") || !strings.HasSuffix(text, "\rabc: pull complete, 3.0 kB\033[K\n")):
			t.Errorf("on a terminal: %q, want bars, then the line over them", text)
		}
	}
}
