# Containers from scratch, in Go. The whole set-up is two commands:
#   make lesson-01   build lesson 01 and run its demo in a throwaway VM
#   make test        every test, each lesson run for real inside the VM
#   make shell-01    the same VM with an interactive shell
#   make docs        regenerate the diffs and transcripts in docs/
#   make exercise-03 write lesson 03 for you to build, into work/lesson-03-pid
#   make check-03    check your lesson 03 (DIR=folder, EX=K: chapter exercise K)
# See README.md.

SHELL   := /bin/bash
CACHE   := $(CURDIR)/.cache
ROOTFS  := $(CACHE)/rootfs
MODULES := $(patsubst %/go.mod,%,$(wildcard */go.mod))
LESSONS := $(sort $(wildcard lesson-[0-9][0-9]-*))
GO      := go
export CGO_ENABLED := 0

# Offline (docs/vm.md, "Offline: make prefetch"): make prefetch fills
# .cache/go with the Go modules (writable, so that make clean deletes
# them) and .cache/debs, an apt repository that make deps and make test
# install from (vm/debs.sh). With no default route (OFFLINE=1 forces it)
# Go asks no proxy and no checksum database: every module was checked
# against go.sum and sum.golang.org when prefetch downloaded it. With no
# Go, or one older than go.work's go line, make uses the toolchain that
# prefetch kept.
export GOMODCACHE := $(CACHE)/go/mod
GOVERSION := go$(shell sed -n 's/^go //p' go.work)
TOOLCHAIN := $(GOMODCACHE)/golang.org/toolchain@v0.0.1-$(GOVERSION).linux-amd64
GOLOCAL   := $(shell GOTOOLCHAIN=local $(GO) env GOVERSION 2>/dev/null)
ifneq ($(GOLOCAL),$(shell printf '%s\n' $(GOVERSION) $(GOLOCAL) | sort -V | tail -n 1))
ifneq ($(wildcard $(TOOLCHAIN)/bin/go),)
export PATH := $(TOOLCHAIN)/bin:$(PATH)
endif
endif
export GOFLAGS := $(strip $(shell PATH='$(PATH)' $(GO) env GOFLAGS 2>/dev/null) -modcacherw)
OFFLINE ?= $(if $(shell awk '$$2 == "00000000" && $$1 != "lo" || $$1 ~ /^0+$$/ && $$2 == "00" && $$10 != "lo"' /proc/net/route /proc/net/ipv6_route 2>/dev/null),,1)
ifeq ($(OFFLINE),1)
export GOPROXY := off
export GOSUMDB := off
endif
ifneq ($(wildcard $(CACHE)/debs/Packages),)
export APT_CONFIG := $(CACHE)/debs/apt.conf
endif
HOST_PACKAGES := make qemu-system-x86 xz-utils docker.io containerd runc crun

# lesson_dir maps "03" to the lesson's folder, e.g. lesson-03-pid.
lesson_dir = $(or $(wildcard lesson-$(1)-*),$(error no lesson folder matches lesson-$(1)-*))

.PHONY: all deps prefetch build rootfs docs test vet bench oci-validation client-tests clean help $(addprefix lesson-,$(LESSONS:lesson-%=%))

all: build

help:
	@sed -n 's/^#   //p' Makefile

# deps installs what the VM needs from Debian's packages, when it can.
deps:
	@command -v $(GO) >/dev/null || { \
		if [ -n "$$SUDO_USER" ]; then echo "Go is not on root's PATH (sudo drops it): run make as yourself; HOST=1 asks for root (sudo) only for the run."; \
		else echo "Go is missing: install Go 1.26 or newer from https://go.dev/dl and try again."; fi; exit 1; }
	@missing=""; \
	command -v qemu-system-x86_64 >/dev/null || missing="$$missing qemu-system-x86"; \
	command -v xz >/dev/null || missing="$$missing xz-utils"; \
	command -v apt-get >/dev/null || { [ -z "$$missing" ] || { echo "This is not a Debian-like host: install$$missing (QEMU and xz) with your package manager, then try again."; exit 1; }; }; \
	$(if $(wildcard $(CACHE)/debs/Packages),vm/debs.sh point $(CACHE)/debs || exit 1;) \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "Missing:$$missing. Run 'sudo apt-get install$$missing' (or run make as root), then try again."; exit 1; fi; \
		echo "make: installing$$missing with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	fi

# prefetch downloads into .cache everything that make lesson-NN, shell-NN
# and test need, so that they run with no network afterwards: the Go
# modules of every module, alone (GOWORK=off, as a learner's copy of a
# lesson builds) and in the workspace (go mod download there would fetch
# every module of the graph and write go.work.sum), the Go toolchain
# go.work asks for, what the OCI validation suite builds with, the Debian
# packages of QEMU and of the clients make test installs, and the VM's
# kernel and busybox (docs/vm.md, "Offline: make prefetch").
prefetch: bin/vm
	@for m in $(MODULES); do (cd $$m && GOWORK=off $(GO) mod download) || exit 1; done
	$(GO) list -deps -test -tags vmtest,ocitest,clienttest $(addprefix ./,$(addsuffix /...,$(MODULES))) >/dev/null
	cd $(CACHE) && GOWORK=off $(GO) mod download $(subst $(GOMODCACHE)/,,$(TOOLCHAIN))
	$(GO) test -count=1 -tags ocitest -run '^TestFetch$$' ./final/test/oci
	vm/debs.sh fetch $(CACHE)/debs $(HOST_PACKAGES)
	@$(MAKE) --no-print-directory deps rootfs
	@bin/vm --cache $(CACHE) assets
	@echo "make: .cache holds $$(du -sh $(CACHE) | cut -f1); copy it into another clone, and make runs there offline"

# build: one static binary per program in bin/. A lesson's main package is
# bin/<lesson>; a helper program in a subfolder is bin/<lesson>-<folder>;
# a module's cmd/NAME is bin/NAME (final/cmd/skiff is bin/skiff). skiff
# learns where the busybox rootfs is, to import it as the image "busybox".
# Each binary is built aside and then copied into bin/ with install: the Go
# linker writes through mmap, and a file written that way stays in the page
# cache in a form that costs more page faults at every start than a file
# written with write(2) or read back from disk, as installed binaries are
# (about 1 ms more per skiff run here; docs/08-final.md, Performance).
build: deps rootfs
	$(call build_modules,$(MODULES))
	@echo "make: built $$(ls bin | tr '\n' ' ')"

# build-NN builds lesson NN's binaries alone, all that make lesson-NN and
# make shell-NN need: linking every program of the workspace took 7 s of a
# warm make lesson-NN's 14 here.
build-%: deps rootfs
	$(call build_modules,$(call lesson_dir,$*))

define build_modules
	@mkdir -p bin
	@for m in $(1); do \
		for dir in $$($(GO) list -f '{{if eq .Name "main"}}{{.Dir}}{{end}}' ./$$m/...); do \
			rel=$${dir#$(CURDIR)/}; \
			case $$rel in */cmd/*) name=$${rel##*/};; $$m) name=$$m;; *) name=$$m-$${rel##*/};; esac; \
			$(GO) build -trimpath -ldflags "-X skiff/internal/cli.DefaultBusybox=$(ROOTFS)" -o bin/.$$name.linked ./$$rel || exit 1; \
			install -m 0755 bin/.$$name.linked bin/$$name && rm bin/.$$name.linked || exit 1; \
		done; \
	done
endef

bin/vm: $(wildcard vm/*.go vm/guest/*) vm/go.mod
	@mkdir -p bin
	$(GO) build -trimpath -o bin/vm ./vm

rootfs: $(ROOTFS)/bin/busybox
$(ROOTFS)/bin/busybox: | bin/vm
	@bin/vm --cache $(CACHE) rootfs $(ROOTFS)

# lesson-NN runs lesson NN's demo in the VM. HOST=1 runs it on this host
# instead: make builds as you, and only the run itself is root's (sudo),
# so bin/ and .cache/ stay yours. (`sudo make` would lose Go: sudo's
# secure_path leaves it off the PATH.)
lesson-%: build-% rootfs
ifeq ($(HOST),1)
	@[ "$$(id -u)" = 0 ] || command -v sudo >/dev/null || { echo "HOST=1 runs the demo as root: install sudo, or run make as root."; exit 1; }
	@echo "WARNING: running $(call lesson_dir,$*) directly on this host, as root, not in a VM."
	@$(if $(filter 0,$(shell id -u)),,sudo) env PATH="$(CURDIR)/bin:$$PATH" sh -c 'tmp=$$(mktemp -d) && trap "rm -rf $$tmp" EXIT && \
		cp -a $(ROOTFS) $$tmp/rootfs && ROOTFS=$$tmp/rootfs sh vm/guest/transcript.sh $(call lesson_dir,$*)/demo.sh'
else
	@bin/vm --cache $(CACHE) run --timeout 3m --rootfs $(ROOTFS) $(addprefix --bin ,$(wildcard bin/$(call lesson_dir,$*)*)) --demo $(call lesson_dir,$*)/demo.sh
endif

# shell-NN boots the same VM with an interactive shell.
shell-%: build-% rootfs
	@bin/vm --cache $(CACHE) run --rootfs $(ROOTFS) $(addprefix --bin ,$(wildcard bin/$(call lesson_dir,$*)*)) --shell \
		--banner "$$(printf '\n%s\n\n%s\n%s\n\n' "$(call lesson_dir,$*): you are root in a throwaway VM. The lesson's binary is on your PATH and a busybox rootfs is at /rootfs." "Try: $(call lesson_dir,$*) run /rootfs sh    (the demo's commands are in /vm/demo.sh; --help explains the flags)" "Type 'exit' to power the VM off.")" \
		--demo $(call lesson_dir,$*)/demo.sh

# exercise-NN writes lesson NN's starter into work/: lesson NN-1's code and
# the skeleton of what lesson NN adds, with TODO(lesson NN) comments
# (vm/starter.go). It never overwrites a learner's folder.
exercise-%: bin/vm
	@bin/vm exercise $(CURDIR) $*

# check-NN runs chapter NN's tests against the learner's code in the VM
# and prints a report (vm/check.go): work/LESSON by default, DIR=folder
# for another, EX=K for the test of the chapter's exercise K.
check-%: deps rootfs bin/vm
	@bin/vm --cache $(CACHE) check $(if $(DIR),--dir "$(abspath $(DIR))") $(if $(EX),--exercise $(EX)) $(CURDIR) $*

# docs rewrites the generated parts of docs/*.md: the diffs between
# lessons and each demo's transcript, run in the VM, and as root the
# transcripts made on this host (vm/docs.go, host-transcript); then copies
# them into the Chinese chapters, docs/zh-CN/*.md, with the references.
docs: build rootfs
	@bin/skiff reference > docs/skiff.md
	@bin/skiff-runtime reference > docs/skiff-runtime.md
	@bin/vm --cache $(CACHE) docs --transcripts $(CURDIR)

vet:
	$(GO) vet $(addprefix ./,$(addsuffix /...,$(MODULES)))
	$(GO) vet -tags vmtest,ocitest,clienttest $(addprefix ./,$(addsuffix /...,$(MODULES)))

# test: vet, unit tests of every module, then every lesson's tests and demo
# run as root inside the VM (vm/lessons_test.go), then skiff-runtime under
# the OCI validation suite (it must pass at least as many programs as runc
# and as crun) and under containerd and Docker, on this host.
test: build rootfs vet
	$(GO) test -count=1 -timeout 5m $(addprefix ./,$(addsuffix /...,$(filter-out vm,$(MODULES))))
	$(GO) test -count=1 -timeout 40m -v ./vm/... | grep -v '^=== \(RUN\|PAUSE\|CONT\)'; exit $${PIPESTATUS[0]}
	@if [ "$$(id -u)" != 0 ]; then echo "make: NOT RUN: the OCI validation suite and the containerd and Docker tests need root on this machine (sudo make test runs them)"; exit 0; fi; \
	OCI_RUNTIMES="skiff=$(CURDIR)/bin/skiff-runtime" OCI_AT_LEAST=skiff $(MAKE) --no-print-directory oci-validation && \
	CLIENT_RUNTIME="$(CURDIR)/bin/skiff-runtime" $(MAKE) --no-print-directory client-tests

# bench compares skiff with runc and crun (final/bench/bench.sh); not part
# of make test.
bench: build
	@bash final/bench/bench.sh

# oci-validation runs the OCI runtime-tools validation suite against runc,
# crun and the runtimes in OCI_RUNTIMES="NAME=/ABS/PATH ..." and prints a
# table of the programs each passes (final/test/oci/validation_test.go,
# which lists its other settings). Needs root; make test runs it with
# skiff-runtime.
oci-validation:
	@$(GO) test -count=1 -tags ocitest -timeout 30m -v -run '^TestValidation$$' ./final/test/oci | grep -v '^=== RUN'; exit $${PIPESTATUS[0]}

# client-tests runs containers through real clients, containerd's ctr and
# Docker (installed from Debian's packages when missing, each daemon with
# its own folders, sockets and cgroups), with the OCI runtime in
# CLIENT_RUNTIME=/ABS/PATH (default: runc) and checks that nothing is left
# on the host (final/test/clients/clients_test.go lists its other
# settings). Needs root; make test runs it with skiff-runtime.
client-tests:
	@$(GO) test -count=1 -tags clienttest -timeout 20m -v ./final/test/clients | grep -v '^=== RUN'; exit $${PIPESTATUS[0]}

clean:
	rm -rf bin $(CACHE)
