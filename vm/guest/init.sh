#!/bin/busybox sh
# /init of the lesson VM, run by the kernel as PID 1.
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root

# Stage 1. The initramfs is the special "rootfs" mount, which pivot_root
# refuses to move (EINVAL). Containers pivot_root, so copy everything into
# a tmpfs and make that the root.
if [ ! -e /.stage2 ]; then
	/bin/busybox mkdir -p /newroot
	/bin/busybox mount -t tmpfs -o mode=0755 tmpfs /newroot
	for f in /*; do
		case "$f" in /newroot | /proc | /sys | /dev) ;; *) /bin/busybox cp -a "$f" /newroot/ ;; esac
	done
	/bin/busybox mkdir -p /newroot/proc /newroot/sys /newroot/dev
	/bin/busybox touch /newroot/.stage2
	exec /bin/busybox switch_root /newroot /init
fi

# Stage 2: a minimal Linux userland.
/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
ln -sf pts/ptmx /dev/ptmx
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
hostname vm
# Like a systemd host: mounts propagate between namespaces unless a
# runtime makes them private (lesson 04).
mount --make-rshared /
ip link set lo up
. /vm/config

if [ "$CGROUP" = v1 ]; then
	# The v1 layout: one hierarchy per controller, as on older hosts.
	mount -t tmpfs -o mode=0755 cgroup /sys/fs/cgroup
	for c in cpu,cpuacct memory pids devices freezer cpuset; do
		mkdir -p "/sys/fs/cgroup/$c"
		mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c"
	done
	ln -s cpu,cpuacct /sys/fs/cgroup/cpu
	ln -s cpu,cpuacct /sys/fs/cgroup/cpuacct
else
	mount -t cgroup2 cgroup2 /sys/fs/cgroup
	echo "+cpu +memory +pids" >/sys/fs/cgroup/cgroup.subtree_control
	echo "+io" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null # as systemd does, where the kernel has it
fi

for m in $(cat /vm/modules); do
	insmod "/vm/modules.d/$m" || echo "vm: insmod $m failed"
done

export ROOTFS=/rootfs
cd /root
case "$MODE" in
demo)
	sh /vm/transcript.sh /vm/demo.sh
	rc=$?
	;;
test)
	# One or more test binaries; a marker line before each tells the host
	# whose output follows. The status is the last failure's.
	rc=0
	for t in /vm/tests/*; do
		echo "skiff-vm-test-binary: $(cat "$t/name")"
		PATH="$t/bin:$PATH" "$t/test" -test.v -test.timeout="$TEST_TIMEOUT" $(cat "$t/args") || rc=$?
	done
	;;
shell)
	cat /vm/banner
	PS1='[vm] \w # ' setsid cttyhack sh
	rc=0
	;;
esac

# Tell the host how it went: a marker line on the console, and the status
# through QEMU's isa-debug-exit port, which makes QEMU exit at once.
[ "$MODE" = shell ] || echo "skiff-vm-exit-status: $rc"
port=$rc
[ "$port" -gt 127 ] && port=127
printf "\\$(printf %03o "$port")" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
poweroff -f
