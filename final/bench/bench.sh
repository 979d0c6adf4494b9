#!/usr/bin/env bash
# make bench: start-to-exit latency of a container running /bin/true, for
# skiff, runc and crun on the same busybox rootfs, and skiff with a bridge
# network, timed by hyperfine in interleaved rounds, in two ways: one
# container at a time (each run 100 ms after the previous one, as when a
# user starts a container), and back to back (each run right after the
# previous run of the same command). The same rounds time the OCI path,
# as containerd's shim drives it: create, start, wait for the exit, delete
# of the same bundle, with skiff-runtime, runc and crun. Then `ctr run
# --rm` of the same rootfs with each of the three runtimes, under one
# containerd of the bench's own, one container at a time. Needs root;
# installs runc, crun and hyperfine (and, through the client tests'
# harness, containerd) from Debian's packages when they are missing.
# RUNS (default 60) runs of each command in each way, in ROUNDS (default 5)
# rounds; GAP (default 0.1) seconds before each run one at a time;
# CTR_RUNS (default 30) runs of ctr run with each runtime.
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
# The containers' cgroup, this run's own.
cgroup=/bench-oci-${work##*.}
declare -A oci_runtime=([skiff-runtime]="$(pwd)/bin/skiff-runtime" [runc]="$(command -v runc)" [crun]="$(command -v crun)")
in_ns="nsenter --mount=$work/mntns --wd=$(pwd)"
ns_made=""
trap 'cleanup' EXIT
cleanup() {
	# Containers that an interrupted run left (crun only works in the
	# namespace made below).
	if [ -n "$ns_made" ]; then
		for rt in runc crun; do
			$in_ns $rt --root "$work/state/$rt" delete -f bench-$rt >/dev/null 2>&1 || true
		done
		for rt in "${!oci_runtime[@]}"; do
			$in_ns "${oci_runtime[$rt]}" --root "$work/state/oci-$rt" delete -f bench-oci >/dev/null 2>&1 || true
		done
	fi
	rmdir /sys/fs/cgroup/*"$cgroup" 2>/dev/null || true
	umount "$work/mntns" 2>/dev/null || true
	# The bridge, its nftables table and the cgroup parent are the host's,
	# named after this run's data root: take them down (`network rm`
	# refuses the default network; prune takes down one whose file is gone).
	rm -f "$work/lib/networks/bridge.json"
	bin/skiff --root "$work/state/skiff" --data-root "$work/lib" system prune >/dev/null 2>&1 || true
	umount "$work/state" 2>/dev/null || true
	rm -rf "$work"
}

# The long commands below run in a session of their own, in the
# background, and the script waits for them: Ctrl-C or SIGTERM to the
# script stops the command and what it runs (a runtime half-way through a
# container, the harness's containerd), and the clean-up above runs once
# they are gone, not under their feet.
child=""
stopping=""
on_signal() {
	stopping=1
	if [ -z "$child" ]; then exit 130; fi
	kill -TERM -- "-$child" 2>/dev/null || true
}
trap on_signal INT TERM HUP
in_session() {
	setsid "$@" &
	child=$!
	local rc
	while :; do
		rc=0
		wait "$child" || rc=$?
		kill -0 "$child" 2>/dev/null || break # else the trap ended the wait, not the command
	done
	child=""
	if [ -n "$stopping" ]; then exit 130; fi
	return "$rc"
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
python3 - "$work/bundle/config.json" "$cgroup" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["ociVersion"] = "1.0.2"            # crun 1.8 rejects newer versions
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
c["root"]["readonly"] = True
c["linux"]["cgroupsPath"] = sys.argv[2]
json.dump(c, open(p, "w"), indent=2)
PY

skiff="bin/skiff --root $work/state/skiff --data-root $work/lib"
$skiff import .cache/rootfs busybox >/dev/null
$skiff run --rm busybox true # create the default network and bridge once

# The OCI path: oci-cycle (final/bench/ocicycle.go) runs create, start and
# delete as containerd's shim does, as the subreaper that waits for the
# container's exit. hyperfine times oci-cycle, so its own start (about
# 1.5 ms of Go start-up here), which a running shim does not pay, is in
# the times: `oci-cycle noop` measures it in the same rounds.
go build -trimpath -o "$work/oci-cycle" final/bench/ocicycle.go
# ctr run goes through the client tests' harness: built now, run after
# the rounds.
go test -c -tags clienttest -o "$work/clients.test" ./final/test/clients

# How a binary came into the page cache changes how fast it starts (up
# to a millisecond for skiff): make build has just written skiff's, while
# runc's and crun's were read back by page faults at some earlier exec.
# Drop the binaries from the cache and read each back the same way.
python3 - "$(pwd)/bin/skiff" "$(pwd)/bin/skiff-init" "${oci_runtime[@]}" "$work/oci-cycle" <<'PY'
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
# namespace in which that mount is gone; the host is not touched. The
# containerd of the ctr runs, its shims and the runtimes they call run in
# it too: crun needs no wrapper there, and the shims' rootfs mounts stay
# in the namespace.
touch "$work/mntns"
unshare --mount="$work/mntns" --propagation private sh -c "umount /sys/fs/cgroup/unified 2>/dev/null || true"
ns_made=1

# The machine is shared and its speed drifts within a minute: hyperfine
# runs each command's runs in a row, so the runs are split into rounds,
# each timing all the commands both ways, and the medians are taken over
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
oci=(-n "oci-cycle noop" "$work/oci-cycle noop")
for rt in skiff-runtime runc crun; do
	# One cycle first, where a failure shows its message.
	$in_ns "$work/oci-cycle" "${oci_runtime[$rt]}" "$work/state/oci-$rt" "$work/bundle" bench-oci
	oci+=(-n "$rt create+start+delete" "$work/oci-cycle ${oci_runtime[$rt]} $work/state/oci-$rt $work/bundle bench-oci")
done
rounds=${ROUNDS:-5}
gap=${GAP:-0.1}
per_round=$(( (runs + rounds - 1) / rounds ))
echo "bench: $((per_round * rounds)) runs of each command in each way, in $rounds rounds of $per_round after 3 warm-up runs (hyperfine -N)"
for round in $(seq "$rounds"); do
	for way in apart back-to-back; do
		prepare=()
		[ "$way" = apart ] && prepare=(--prepare "sleep $gap")
		in_session $in_ns hyperfine -N --warmup 3 --runs "$per_round" "${prepare[@]}" --export-json "$work/$way-$round.json" \
			-n "skiff --network none" "$(pwd)/$skiff run --rm --network none busybox true" \
			-n "runc run" "runc --root $work/state/runc run --bundle $work/bundle bench-runc" \
			-n "crun run" "crun --root $work/state/crun run --bundle $work/bundle bench-crun" \
			-n "skiff (bridge)" "$(pwd)/$skiff run --rm busybox true" \
			-n "skiff, seccomp=unconfined" "$(pwd)/$skiff run --rm --network none --security-opt seccomp=unconfined busybox true" \
			-n "skiff --userns private" "$(pwd)/$skiff run --rm --network none --userns private busybox true" \
			"${oci[@]}" \
			> /dev/null 2> >(grep -v -e "Statistical outliers" -e '^ *$' >&2)
	done
done

# ctr run --rm IMAGE ID /bin/true with each runtime, interleaved, each run
# GAP after the previous one (BenchmarkCtrRunEach in final/test/clients).
# The harness starts a containerd of its own, with its folders on the
# bench's tmpfs, and removes it and everything it made at the end.
ctr_runs=${CTR_RUNS:-30}
echo "bench: $ctr_runs runs of ctr run --rm with each runtime under one containerd, interleaved, after 3 warm-up runs"
mkdir "$work/state/clients"
in_session $in_ns env TMPDIR="$work/state/clients" ROOTFS="$(pwd)/.cache/rootfs" CLIENT_RUNTIME="${oci_runtime[skiff-runtime]}" \
	CLIENT_BENCH_RUNTIMES="skiff-runtime=${oci_runtime[skiff-runtime]} runc=${oci_runtime[runc]} crun=${oci_runtime[crun]}" \
	CLIENT_BENCH_GAP="$gap" CLIENT_BENCH_JSON="$work/ctr.json" \
	"$work/clients.test" -test.run '^$' -test.bench '^BenchmarkCtrRunEach$' -test.benchtime "${ctr_runs}x" -test.v \
	> "$work/ctr.log" 2>&1 || { cat "$work/ctr.log" >&2; exit 1; }

python3 - "$work" "$gap" <<'PY'
import glob, json, statistics, sys
work, gap = sys.argv[1], float(sys.argv[2])
apart = f"one container at a time (each run {gap * 1000:.0f} ms after the previous one)"

def table(title, files):
    """Prints each command's median and fastest run over all the files' runs; returns the medians."""
    times = {}
    for f in files:
        for r in json.load(open(f))["results"]:
            times.setdefault(r["command"], []).extend(t * 1000 for t in r["times"])
    ms = {c: statistics.median(t) for c, t in times.items()}
    print(f"\n{title}")
    print(f"{'command':<34}{'median ms':>10}{'min ms':>9}")
    for c, t in times.items():
        print(f"{c:<34}{ms[c]:>10.2f}{min(t):>9.2f}")
    return ms

for way, title in (("apart", apart),
                   ("back-to-back", "back to back (each run right after the previous run of the same command)")):
    ms = table(title, sorted(glob.glob(f"{work}/{way}-*.json")))
    s, runc, crun, br = ms["skiff --network none"], ms["runc run"], ms["crun run"], ms["skiff (bridge)"]
    print(f"runc / skiff: {runc/s:.2f}x   (target: 3x or more)")
    print(f"crun / skiff: {crun/s:.2f}x   (target: 1x or more)")
    print(f"skiff with a bridge network: {br:.2f} ms median (target: under 15 ms)")
    print(f"what the defences cost: seccomp {s - ms['skiff, seccomp=unconfined']:+.2f} ms, "
          f"a user namespace {ms['skiff --userns private'] - s:+.2f} ms")
    oci, oci_runc, oci_crun = (ms[f"{rt} create+start+delete"] for rt in ("skiff-runtime", "runc", "crun"))
    print(f"OCI path: runc / skiff-runtime {oci_runc/oci:.2f}x, crun / skiff-runtime {oci_crun/oci:.2f}x")
    own = oci - ms["oci-cycle noop"]
    print(f"OCI path: skiff-runtime create+start+delete / skiff --network none: {oci/s:.2f}x, "
          f"{own/s:.2f}x without oci-cycle's own start   (target: 1x or less)")

ms = table(f"through containerd: ctr run --rm IMAGE ID /bin/true, {apart}", [f"{work}/ctr.json"])
s, runc, crun = ms["ctr run skiff-runtime"], ms["ctr run runc"], ms["ctr run crun"]
print(f"runc / skiff-runtime: {runc/s:.2f}x")
print(f"crun / skiff-runtime: {crun/s:.2f}x   (target: 1x or more)")
PY
