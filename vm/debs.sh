#!/bin/sh
# debs.sh keeps .cache/debs a small apt repository of its own, so that a
# machine with no network installs QEMU, Docker and the rest from it, and
# the VM harness finds its kernel and busybox in it (make prefetch, make
# deps; docs/vm.md, "Offline: make prefetch").
#
#   debs.sh fetch DIR PACKAGE...  download PACKAGE and every package it
#       needs into DIR, plus the kernel and busybox the VM boots, drop the
#       other .deb files, and write DIR/Packages
#   debs.sh point DIR             write DIR/apt.conf, which points apt at
#       DIR alone (make exports APT_CONFIG=DIR/apt.conf), and read DIR's
#       index into DIR/lists when DIR moved or changed
#
# The dependency closure is the one apt would install on a machine where
# nothing is installed yet (an empty dpkg status), without recommended
# packages: a superset of what a Debian 12 machine lacks, whatever it has.
set -eu

fetch() {
	unset APT_CONFIG # the system's sources, not DIR
	dir=$1
	shift
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	# The kernel meta package, the kernel it points at today (vm/assets.go
	# picks it the same way) and busybox: downloaded, not installed.
	kernel=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[^<].*\)/\1/p' | head -n 1)
	[ -n "$kernel" ] || { echo "debs.sh: apt-cache depends linux-image-amd64 names no kernel (apt-get update?)" >&2; exit 1; }
	want=$(
		apt-get install --simulate --no-install-recommends -o Dir::State::status=/dev/null -o Debug::NoLocking=1 "$@" |
			sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*/\1=\2/p'
		for p in linux-image-amd64 "$kernel" busybox-static; do
			echo "$p=$(apt-cache policy "$p" | sed -n 's/^ *Candidate: //p')"
		done
	)
	keep=$(mktemp)
	trap 'rm -f "$keep"' EXIT
	for pv in $want; do
		# apt-get download names files PACKAGE_VERSION_ARCH.deb, the
		# epoch's colon written %3a.
		ls "$dir/${pv%%=*}_$(echo "${pv#*=}" | sed 's/:/%3a/')_"*.deb 2>/dev/null >>"$keep" || missing="${missing:-} $pv"
	done
	if [ -n "${missing:-}" ]; then
		echo "debs.sh: downloading $(echo "$missing" | wc -w | tr -d ' ') packages into $dir" >&2
		# As root, apt downloads as the _apt user, which may not write DIR.
		(cd "$dir" && apt-get download -q -o APT::Sandbox::User=root $missing >/dev/null)
		for pv in $missing; do
			ls "$dir/${pv%%=*}_$(echo "${pv#*=}" | sed 's/:/%3a/')_"*.deb >>"$keep"
		done
	fi
	# Older versions left by an earlier prefetch would be two candidates.
	for deb in "$dir"/*.deb; do
		grep -qxF "$deb" "$keep" || rm -f "$deb"
	done
	index "$dir"
	echo "debs.sh: $(wc -l <"$keep") packages, $(du -sh "$dir" | cut -f1) in $dir" >&2
}

# index writes DIR/Packages, the index of a flat repository ("deb file:DIR ./").
index() {
	for deb in "$1"/*.deb; do
		dpkg-deb -f "$deb"
		echo "Filename: ./${deb##*/}"
		echo "Size: $(stat -c %s "$deb")"
		echo "SHA256: $(sha256sum "$deb" | cut -d ' ' -f 1)"
		echo
	done >"$1/Packages.tmp"
	mv "$1/Packages.tmp" "$1/Packages"
}

point() {
	dir=$(cd "$1" && pwd)
	[ -f "$dir/Packages" ] || { echo "debs.sh: $dir/Packages is missing: run make prefetch" >&2; exit 1; }
	# No system source, lists of its own, no binary cache in /var/cache:
	# the host's apt set-up is left as it was.
	conf=$(printf '%s\n' \
		"Dir::Etc::SourceList \"$dir/sources.list\";" \
		"Dir::Etc::SourceParts \"$dir/none\";" \
		"Dir::State::Lists \"$dir/lists\";" \
		"Dir::Cache::pkgcache \"\";" \
		"Dir::Cache::srcpkgcache \"\";")
	if [ "$(cat "$dir/apt.conf" 2>/dev/null)" != "$conf" ]; then
		echo "$conf" >"$dir/apt.conf"
		echo "deb [trusted=yes] file:$dir ./" >"$dir/sources.list"
	fi
	if [ -z "$(find "$dir/lists" -name '*_Packages*' -newer "$dir/Packages" -newer "$dir/apt.conf" 2>/dev/null)" ]; then
		mkdir -p "$dir/lists/partial"
		APT_CONFIG="$dir/apt.conf" apt-get update -qq -o APT::Sandbox::User="$(id -un)" >/dev/null
	fi
}

case "${1:-}" in
fetch) shift && fetch "$@" ;;
point) point "$2" ;;
*) echo "usage: debs.sh fetch DIR PACKAGE... | debs.sh point DIR" >&2 && exit 2 ;;
esac
