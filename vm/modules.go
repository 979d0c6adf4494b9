package main

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// wantedModules are the kernel features the lessons need that Debian builds
// as modules: overlay (lesson 06), veth and bridge (lesson 07), nftables
// NAT and masquerade (lesson 07 and skiff). br_netfilter is there because
// hosts that run Docker have it: bridged packets then pass the netfilter
// hooks too, which is what makes hairpin mode matter for a container
// that reaches its own published port.
var wantedModules = []string{
	"overlay", "veth", "bridge", "br_netfilter", "nf_tables", "nft_chain_nat", "nft_nat", "nft_masq", "nft_ct", "nft_fib_ipv4",
}

// softdepAliases picks the implementation for a module's "softdep: pre:"
// aliases. crc32c-intel would be the default, but it fails under TCG.
var softdepAliases = map[string]string{"crc32c": "crc32c_generic"}

// moduleOrder returns the .ko files to insmod, dependencies first. Debian's
// package ships no modules.dep, so the dependencies are read from each
// module's .modinfo section, as depmod would.
func moduleOrder(modDir string, wanted []string) ([]string, error) {
	files := map[string]string{}
	err := filepath.WalkDir(filepath.Join(modDir, "kernel"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".ko") {
			files[moduleName(filepath.Base(p))] = p
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	var order []string
	done := map[string]bool{}
	var visit func(name string) error
	visit = func(name string) error {
		name = moduleName(name)
		if done[name] {
			return nil
		}
		done[name] = true
		file, ok := files[name]
		if !ok {
			return fmt.Errorf("kernel module %s not found under %s", name, modDir)
		}
		deps, err := moduleDeps(file)
		if err != nil {
			return err
		}
		for _, dep := range deps {
			if err := visit(dep); err != nil {
				return err
			}
		}
		order = append(order, file)
		return nil
	}
	for _, name := range wanted {
		if err := visit(name); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// moduleDeps reads "depends=" and "softdep=pre:" from a module's .modinfo.
func moduleDeps(file string) ([]string, error) {
	f, err := elf.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("%s: no .modinfo section", file)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, err
	}
	var deps []string
	for _, field := range bytes.Split(data, []byte{0}) {
		key, value, _ := strings.Cut(string(field), "=")
		switch key {
		case "softdep":
			pre, _, _ := strings.Cut(strings.TrimPrefix(value, "pre:"), "post:")
			for _, alias := range strings.Fields(pre) {
				if impl, ok := softdepAliases[alias]; ok {
					deps = append(deps, impl)
				}
			}
		case "depends":
			for _, dep := range strings.Split(value, ",") {
				if dep != "" {
					deps = append(deps, dep)
				}
			}
		}
	}
	return deps, nil
}

// moduleName normalises "nf-nat.ko" and "nf_nat" to "nf_nat", as modprobe does.
func moduleName(s string) string {
	return strings.ReplaceAll(strings.TrimSuffix(s, ".ko"), "-", "_")
}
