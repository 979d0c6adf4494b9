# Lesson 03: a PID namespace. The command is PID 1 of a new process tree:
lesson-03-pid run $ROOTFS sh -c 'echo "my PID is $$"'

# From the host it is an ordinary process. NSpid in /proc/PID/status lists
# its number in every namespace it belongs to, outermost first:
lesson-03-pid run --hostname box1 $ROOTFS sleep 30 &
sleep 1
pid=$(ps -o pid,ppid | awk -v runtime=$! '$2 == runtime {print $1}')
grep NSpid /proc/$pid/status
readlink /proc/self/ns/pid; readlink /proc/$pid/ns/pid

# But ps inside shows nothing: ps reads /proc, and the rootfs's /proc is an
# empty folder. Mounting one from inside would mount it on the host too:
# there is no mount namespace yet. That is lesson 04.
lesson-03-pid run $ROOTFS ps
lesson-03-pid run $ROOTFS ls /proc

# PID 1 is special. The kernel drops every signal that PID 1 has no handler
# for when it comes from inside the namespace, SIGTERM and even SIGKILL:
lesson-03-pid run $ROOTFS sh -c 'kill -TERM 1; kill -KILL 1; echo "still alive"'
# A process that is not PID 1 dies as usual:
lesson-03-pid run $ROOTFS sh -c 'sh -c "kill -TERM \$\$; echo not printed"; echo "the child died with status $?"'

# From the host too, SIGTERM to a PID 1 without a handler is dropped;
# only SIGKILL and SIGSTOP always get through:
kill -TERM $pid; sleep 1
pidof sleep && echo "sleep is still alive"
kill -KILL $pid; wait

# A PID 1 that handles SIGTERM can shut down cleanly. The runtime forwards
# the signals it receives, so killing the runtime reaches the container:
lesson-03-pid run $ROOTFS sh -c 'trap "echo PID 1 got SIGTERM; exit 0" TERM; while true; do sleep 0.1; done' &
sleep 1
kill -TERM $!; wait
