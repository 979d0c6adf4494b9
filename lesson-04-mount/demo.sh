# Lesson 04: a mount namespace. First, the mistake this lesson avoids.
# This VM, like every systemd host, has shared mount propagation on /:
grep " / / " /proc/self/mountinfo
# A new mount namespace starts as a copy of the host's mounts, with their
# propagation. Mount something in one without making it private first...
mkdir -p /tmp/leak
unshare --mount --propagation shared mount -t tmpfs leaked /tmp/leak
# ...and the host has it too, although the namespace is long gone:
grep leaked /proc/mounts
umount /tmp/leak

# The lesson makes every mount private first, then pivots into the rootfs
# and mounts a fresh /proc. Now ps sees only the container:
lesson-04-mount run $ROOTFS sh -c 'sleep 10 & ps'
# The container's whole mount table: nothing of the host's is left.
lesson-04-mount run $ROOTFS cat /proc/self/mountinfo
# A minimal /dev, with no disks, no /dev/mem, no kernel log:
lesson-04-mount run $ROOTFS ls /dev
ls /dev | wc -l

# Volumes are bind mounts made before pivot_root, as docker run -v does:
mkdir -p /tmp/data && echo "hello from the host" > /tmp/data/greeting
lesson-04-mount run -v /tmp/data:/data $ROOTFS sh -c 'cat /data/greeting; echo "written inside" > /data/reply'
cat /tmp/data/reply
lesson-04-mount run -v /tmp/data:/data:ro $ROOTFS sh -c 'echo again > /data/reply' || echo "exit status $?"

# Mounts made inside stay inside, and the lesson 01 escape now fails: the
# old root was detached, so ".." stops at the container's root.
lesson-04-mount run $ROOTFS sh -c 'mount -t tmpfs inside /mnt && grep inside /proc/mounts'
grep inside /proc/mounts || echo "the host has no such mount"
cp $(which lesson-04-mount-escape) $ROOTFS/bin/escape
lesson-04-mount run $ROOTFS /bin/escape ls /
rm -r /tmp/data
