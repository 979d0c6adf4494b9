# Lesson 01: chroot. We are root in a throwaway VM whose hostname is "vm".
# $ROOTFS is a small busybox root filesystem, built by `make rootfs`.
ls $ROOTFS

# Inside the chroot, / is that folder. The VM's own files are out of sight.
lesson-01-chroot run $ROOTFS ls /
lesson-01-chroot run $ROOTFS cat /etc/os-release
echo "a file that only the host has" > /tmp/host-secret
lesson-01-chroot run $ROOTFS cat /tmp/host-secret || echo "exit status $?"

# But chroot only changes where path lookup starts. The hostname, the PID
# numbers and the mounts are still the host's:
lesson-01-chroot run $ROOTFS hostname
lesson-01-chroot run $ROOTFS sh -c 'echo "my PID is $$"'
lesson-01-chroot run $ROOTFS sh -c 'mount -t proc proc /proc && ps -o pid,comm | head -4'
grep " $ROOTFS/proc " /proc/mounts
umount $ROOTFS/proc

# And root can walk out of a chroot. The escape program chroots into a
# subfolder without entering it, then climbs ".." past the jail's root:
cp $(which lesson-01-chroot-escape) $ROOTFS/bin/escape
lesson-01-chroot run $ROOTFS /bin/escape cat /tmp/host-secret
lesson-01-chroot run $ROOTFS /bin/escape ls /

# Errors use Docker's exit statuses: 125 the runtime failed, 126 cannot
# execute, 127 not found. Otherwise the status is the command's own.
lesson-01-chroot run /no/such/rootfs sh || echo "exit status $?"
lesson-01-chroot run $ROOTFS no-such-command || echo "exit status $?"
lesson-01-chroot run $ROOTFS sh -c 'exit 3' || echo "exit status $?"
rm /tmp/host-secret
