# Lesson 05: cgroups. This VM has cgroup v2: one tree, mounted at
# /sys/fs/cgroup, with these controllers available to its children:
cat /sys/fs/cgroup/cgroup.subtree_control

# --verbose shows that a cgroup is a folder and a limit is a file:
lesson-05-cgroups run --verbose --memory 64M --cpus 0.5 --pids 20 $ROOTFS cat /proc/self/cgroup

# Memory: tail /dev/zero holds one endless "line" in memory. At 32 MiB the
# kernel's OOM killer stops it. SIGKILL: exit status 128+9.
lesson-05-cgroups run --memory 32M $ROOTFS tail /dev/zero || echo "exit status $?"

# Processes: a fork bomb in slow motion stops at --pids.
lesson-05-cgroups run --pids 5 $ROOTFS sh -c 'for i in 1 2 3 4 5 6; do sleep 1 & echo "started sleep $i"; done' || echo "exit status $?"

# CPU: a busy loop may use a fifth of a CPU per 100 ms period; cpu.stat
# counts the periods in which the kernel throttled it.
lesson-05-cgroups run --cpus 0.2 $ROOTFS sh -c 'while :; do :; done' &
sleep 2
cat /sys/fs/cgroup/containers-from-scratch/*/cpu.stat
kill -KILL $(ps -o pid,ppid | awk -v runtime=$! '$2 == runtime {print $1}'); wait

# Limits cap, they do not reserve, and /proc/meminfo inside still shows the
# machine's memory, not the limit: /proc is not cgroup-aware.
lesson-05-cgroups run --memory 32M $ROOTFS grep MemTotal /proc/meminfo
# After each run the cgroup is gone:
ls /sys/fs/cgroup | grep containers || echo "no cgroup left"
