# Lesson 02: the re-exec pattern and a UTS namespace.
# The VM is called "vm". The container gets a name of its own:
hostname
lesson-02-uts run --hostname box1 $ROOTFS hostname
# Without --hostname it gets 12 random hex digits, as in Docker:
lesson-02-uts run $ROOTFS hostname

# Renaming from inside changes only the container's UTS namespace:
lesson-02-uts run --hostname box1 $ROOTFS sh -c 'hostname renamed; hostname'
hostname

# Seen from the host, the container's process sits in other uts and ipc
# namespaces: the link names carry the namespace's inode number.
lesson-02-uts run --hostname box1 $ROOTFS sleep 30 &
sleep 1
pid=$(ps -o pid,ppid | awk -v runtime=$! '$2 == runtime {print $1}')
readlink /proc/self/ns/uts; readlink /proc/$pid/ns/uts
readlink /proc/self/ns/ipc; readlink /proc/$pid/ns/ipc
# nsenter joins a process's namespaces, here only its UTS namespace:
nsenter --target $pid --uts hostname

# Everything else is still shared. The PID, for one, is a host PID:
lesson-02-uts run $ROOTFS sh -c 'echo "my PID is $$"'
kill $pid
