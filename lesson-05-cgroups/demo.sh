# Lesson 05: cgroups. Which layout does this machine have? The magic number
# of the filesystem at /sys/fs/cgroup tells: 63677270 ("cgrp") is cgroup v2,
# one unified tree; 1021994 is a tmpfs: v1, one hierarchy per controller.
stat -fc %t /sys/fs/cgroup

# --verbose shows that a cgroup is a folder and a limit is a file:
lesson-05-cgroups run --verbose --memory 64M --cpus 0.5 --pids 20 $ROOTFS cat /proc/self/cgroup

# Memory: tail /dev/zero holds one endless "line" in memory. At 32 MiB the
# kernel's OOM killer stops it. SIGKILL: exit status 128+9.
lesson-05-cgroups run --memory 32M $ROOTFS tail /dev/zero || echo "exit status $?"

# Processes: a fork bomb in slow motion stops at --pids.
lesson-05-cgroups run --pids 10 $ROOTFS sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1 & echo "started sleep $i"; done' || echo "exit status $?"

# CPU: a busy loop may use a fifth of a CPU per 100 ms period; cpu.stat
# counts the periods in which the kernel throttled it.
lesson-05-cgroups run --cpus 0.2 $ROOTFS sh -c 'while :; do :; done' &
sleep 2
cat /sys/fs/cgroup/containers-from-scratch/*/cpu.stat 2>/dev/null || cat /sys/fs/cgroup/cpu/containers-from-scratch/*/cpu.stat
kill -KILL $(ps -o pid,ppid | awk -v runtime=$! '$2 == runtime {print $1}'); wait

# Limits cap, they do not reserve, and /proc/meminfo inside still shows the
# machine's memory, not the limit: /proc is not cgroup-aware.
lesson-05-cgroups run --memory 32M $ROOTFS grep MemTotal /proc/meminfo
# After each run the cgroup is gone:
ls -d /sys/fs/cgroup/containers-from-scratch /sys/fs/cgroup/*/containers-from-scratch 2>/dev/null || echo "no cgroup left"
