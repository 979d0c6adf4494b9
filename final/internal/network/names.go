package network

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// The names skiff gives on the host, which every process on it shares
// (bridges, nftables tables), each belong to one instance of skiff, one
// data root: two skiffs with data roots of their own on one host must
// neither share a name nor list, sweep or delete each other's. An
// instance's tag goes into all of them:
//
//	nftables tables  P+"net-"+NAME (a network's), P+ID[:12] (a container's ports),
//	                 where P is "skiff-" for the default instance, else "skiff"+TAG+"-"
//	bridges          "skiff" + 10 hex digits of SHA-256(TAG, NAME), or "skiff0" for the
//	                 default instance's default network
//	bridge alias     "skiff"+TAG+" network "+NAME: how skiff tells its bridges from others'
//
// The default instance keeps the names of earlier versions, so that an
// upgrade finds its tables and bridges where they were.

// DefaultDataRoot is the data root of the default instance, whose tag is "".
const DefaultDataRoot = "/var/lib/skiff"

// InstanceTag is the tag of the instance whose data root is dataRoot: ""
// for the default one, else the first 6 hex digits of the SHA-256 of the
// absolute path of its data root.
func InstanceTag(dataRoot string) string {
	abs, err := filepath.Abs(dataRoot)
	if err != nil {
		abs = filepath.Clean(dataRoot)
	}
	if abs == DefaultDataRoot {
		return ""
	}
	sum := sha256.Sum256([]byte(abs))
	return hex.EncodeToString(sum[:])[:6]
}

// tablePrefix starts the name of every nftables table of this instance.
// The default instance's, "skiff-", does not match a tagged one's,
// "skiffTAG-".
func (s *Store) tablePrefix() string {
	if s.Tag == "" {
		return "skiff-"
	}
	return "skiff" + s.Tag + "-"
}

// bridgeName is the bridge a new network gets: unique per instance and
// name, within the 15 bytes of an interface name. Networks already on
// disk keep the bridge their file records.
func (s *Store) bridgeName(name string) string {
	if s.Tag == "" && name == DefaultName {
		return "skiff0"
	}
	sum := sha256.Sum256([]byte(s.Tag + "\x00" + name))
	return "skiff" + hex.EncodeToString(sum[:5])
}

// ownerPrefix starts the alias of every bridge of this instance; the
// network's name follows.
func (s *Store) ownerPrefix() string { return "skiff" + s.Tag + " network " }

// bridgeAlias marks network name's bridge as this instance's (`ip link`
// shows it as its alias), so that skiff neither uses nor deletes a link
// that only happens to have the name it expects.
func (s *Store) bridgeAlias(name string) string { return s.ownerPrefix() + name }

// linkAlias reads the alias of a link from sysfs, a small file where a
// netlink request would bring back every attribute of the link; ok is
// false if there is no such link.
func linkAlias(link string) (alias string, ok bool) {
	if !validBridge().MatchString(link) {
		return "", false
	}
	data, err := os.ReadFile("/sys/class/net/" + link + "/ifalias")
	if err != nil {
		_, err = os.Stat("/sys/class/net/" + link)
		return "", err == nil
	}
	return strings.TrimSuffix(string(data), "\n"), true
}

var validBridge = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,15}$`) })
