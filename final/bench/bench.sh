#!/usr/bin/env bash
# make bench: start-to-exit latency of a container running /bin/true, for
# skiff, runc and crun on the same busybox rootfs, and skiff with a bridge
# network, timed by hyperfine in interleaved rounds, in two ways: one
# container at a time (each run 100 ms after the previous one, as when a
# user starts a container), and back to back (each run right after the
# previous run of the same command). Needs root; installs runc, crun and
# hyperfine from Debian's packages when they are missing.
# RUNS (default 60) runs of each command in each way, in ROUNDS (default 5)
# rounds; GAP (default 0.1) seconds before each run one at a time.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "make bench needs root (runc, crun and skiff create namespaces and cgroups)"; exit 1; }
missing=""
for tool in runc crun hyperfine python3; do command -v $tool >/dev/null || missing="$missing $tool"; done
if [ -n "$missing" ]; then
	echo "bench: installing$missing"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
runs=${RUNS:-60}
work=$(mktemp -d /tmp/skiff-bench.XXXXXX)
trap 'cleanup' EXIT
cleanup() {
	runc --root "$work/state/runc" delete -f bench-runc >/dev/null 2>&1 || true
	umount "$work/mntns" 2>/dev/null || true
	# The bridge, its nftables table and the cgroup parent are the host's,
	# named after this run's data root: take them down.
	bin/skiff --root "$work/state/skiff" --data-root "$work/lib" network rm bridge >/dev/null 2>&1 || true
	bin/skiff --root "$work/state/skiff" --data-root "$work/lib" system prune >/dev/null 2>&1 || true
	umount "$work/state" 2>/dev/null || true
	rm -rf "$work"
}

# The three runtimes keep their state (skiff also its containers' writable
# layers) under /run, which is a tmpfs on a normal host; on this machine
# kind /run is on the root disk. Give all three the same tmpfs.
mkdir -p "$work/state"
mount -t tmpfs -o size=256m skiff-bench "$work/state"

# One OCI bundle, as `runc spec` makes it, running /bin/true read-only.
mkdir -p "$work/bundle"
cp -a .cache/rootfs "$work/bundle/rootfs"
(cd "$work/bundle" && runc spec)
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["ociVersion"] = "1.0.2"            # crun 1.8 rejects newer versions
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
c["root"]["readonly"] = True
c["linux"]["cgroupsPath"] = "/bench-oci"
json.dump(c, open(p, "w"), indent=2)
PY

skiff="bin/skiff --root $work/state/skiff --data-root $work/lib"
$skiff import .cache/rootfs busybox >/dev/null
$skiff run --rm busybox true # create the default network and bridge once

# How a binary came into the page cache changes how fast it starts (up
# to a millisecond for skiff): make build has just written skiff's, while
# runc's and crun's were read back by page faults at some earlier exec.
# Drop the four binaries from the cache and read each back the same way.
python3 - "$(pwd)/bin/skiff" "$(pwd)/bin/skiff-init" "$(command -v runc)" "$(command -v crun)" <<'PY'
import os, sys
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        os.fsync(f.fileno())  # pages still dirty from make build cannot be dropped
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        while f.read(1 << 20):
            pass
PY

# crun 1.8 refuses the hybrid cgroup layout because of the cgroup2 mount
# at /sys/fs/cgroup/unified. Run everything inside a private mount
# namespace in which that mount is gone; the host is not touched.
touch "$work/mntns"
unshare --mount="$work/mntns" --propagation private sh -c "umount /sys/fs/cgroup/unified 2>/dev/null || true"
in_ns="nsenter --mount=$work/mntns"

# The machine is shared and its speed drifts within a minute: hyperfine
# runs each command's runs in a row, so the runs are split into rounds,
# each timing all four commands both ways, and the medians are taken over
# every run of every round.
#
# Why two ways: runc and crun move their child into its cgroup v1 by
# writing its PID to cgroup.procs, which takes a global lock
# (cgroup_threadgroup_rwsem) for writing, and that waits for an RCU grace
# period, unless the previous writer released it less than about one
# grace period ago. Run back to back, each run finds the previous run's
# grace period and skips the wait, as on a host where something moves
# processes between cgroups all the time; a container started on an idle
# host pays it. skiff does not take that lock (docs/08-final.md,
# Performance).
rounds=${ROUNDS:-5}
gap=${GAP:-0.1}
per_round=$(( (runs + rounds - 1) / rounds ))
echo "bench: $((per_round * rounds)) runs of each command in each way, in $rounds rounds of $per_round after 3 warm-up runs (hyperfine -N)"
for round in $(seq "$rounds"); do
	for way in apart back-to-back; do
		prepare=()
		[ "$way" = apart ] && prepare=(--prepare "sleep $gap")
		$in_ns hyperfine -N --warmup 3 --runs "$per_round" "${prepare[@]}" --export-json "$work/$way-$round.json" \
			-n "skiff --network none" "$(pwd)/$skiff run --rm --network none busybox true" \
			-n "runc run" "runc --root $work/state/runc run --bundle $work/bundle bench-runc" \
			-n "crun run" "crun --root $work/state/crun run --bundle $work/bundle bench-crun" \
			-n "skiff (bridge)" "$(pwd)/$skiff run --rm busybox true" \
			> /dev/null 2> >(grep -v -e "Statistical outliers" -e '^ *$' >&2)
	done
done

python3 - "$work" "$gap" <<'PY'
import glob, json, statistics, sys
work, gap = sys.argv[1], float(sys.argv[2])
for way, title in (("apart", f"one container at a time (each run {gap * 1000:.0f} ms after the previous one)"),
                   ("back-to-back", "back to back (each run right after the previous run of the same command)")):
    times = {}
    for f in sorted(glob.glob(f"{work}/{way}-*.json")):
        for r in json.load(open(f))["results"]:
            times.setdefault(r["command"], []).extend(t * 1000 for t in r["times"])
    ms = {c: statistics.median(t) for c, t in times.items()}
    print(f"\n{title}")
    print(f"{'command':<24}{'median ms':>10}{'min ms':>9}")
    for c, t in times.items():
        print(f"{c:<24}{ms[c]:>10.2f}{min(t):>9.2f}")
    s, runc, crun, br = ms["skiff --network none"], ms["runc run"], ms["crun run"], ms["skiff (bridge)"]
    print(f"runc / skiff: {runc/s:.2f}x   (target: 3x or more)")
    print(f"crun / skiff: {crun/s:.2f}x   (target: 1x or more)")
    print(f"skiff with a bridge network: {br:.2f} ms median (target: under 15 ms)")
PY
