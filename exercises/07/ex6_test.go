//go:build vmtest

// Exercise 07.6, write docker-proxy: the runtime itself listens on each
// published port of the host and copies every connection to the container,
// instead of DNAT rules. A port can then be published only once.
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestEx07_6DockerProxy(t *testing.T) {
	rootfs, _ := newRootfs(t)
	www := t.TempDir()
	writeFile(t, filepath.Join(www, "index.html"), "hello through the proxy\n")
	runtime, pid := startLesson(t, "httpd", "run", "-p", "8083:80", "-v", www+":/www", rootfs, "httpd", "-f", "-p", "80", "-h", "/www")
	if !hostListens(t, 8083) {
		t.Fatalf("nothing listens on the host's port 8083; want the runtime (pid %d) to listen there itself", runtime.Process.Pid)
	}
	var body string
	var err error
	for try := 0; try < 50; try++ { // until httpd listens
		if body, err = httpGet("http://127.0.0.1:8083/"); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if body != "hello through the proxy\n" {
		t.Fatalf("GET http://127.0.0.1:8083/ from the host: %q, %v; want the container's page", body, err)
	}
	_, errOut, status := runLesson(t, "run", "-p", "8083:80", rootfs, "true")
	if status != 125 || !strings.Contains(errOut, "address already in use") {
		t.Errorf("a second container on port 8083: status %d, stderr %q; want status 125 and \"address already in use\"", status, errOut)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	runtime.Wait()
	if hostListens(t, 8083) {
		t.Errorf("the host still listens on port 8083 after the container ended; want the proxy gone with it")
	}
}

func httpGet(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

// hostListens says whether a TCP socket of the host listens on port p, from
// /proc/net/tcp and tcp6 (the local address's port in hex, state 0A).
func hostListens(t *testing.T, p int) bool {
	t.Helper()
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(file)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) > 3 && strings.HasSuffix(f[1], fmt.Sprintf(":%04X", p)) && f[3] == "0A" {
				return true
			}
		}
	}
	return false
}
