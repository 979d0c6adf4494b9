# skiff-runtime: skiff's OCI runtime, with runc's command line. A bundle is
# a folder: the container's root filesystem, and config.json for the rest.
mkdir -p /tmp/bundle && cd /tmp/bundle
cp -a $ROOTFS rootfs
skiff-runtime spec
ls
grep -A 2 '"args"' config.json

# The example runs sh on a terminal, which needs a console socket. No
# terminal, and sleep instead:
sed -i -e 's/"terminal": true/"terminal": false/' -e 's/^      "sh"$/      "sleep", "1000"/' config.json
# and a createRuntime hook, which gets the container's state on its stdin:
sed -i '/"ociVersion"/a\  "hooks": {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "cat > /tmp/hook.json"]}]},' config.json
head -n 3 config.json

# create sets the container up and leaves its init waiting for start:
skiff-runtime create --bundle /tmp/bundle --pid-file /tmp/demo.pid demo
skiff-runtime state demo
cat /tmp/hook.json; echo
pid=$(cat /tmp/demo.pid)
ps -o pid,ppid,args | grep -E "^ *(PID|$pid) "
ls /run/skiff-runtime/demo
# Where in the kernel init waits: opening the FIFO, for a reader.
cat /proc/$pid/wchan; echo
cat /proc/$pid/cgroup

# start opens the FIFO that init is blocked on; init execs the command, in
# the same process:
skiff-runtime start demo
skiff-runtime state demo
ps -o pid,ppid,args | grep -E "^ *(PID|$pid) "
skiff-runtime exec demo sh -c 'hostname; ps'
skiff-runtime ps demo

# pause freezes the container's cgroup; resume thaws it:
skiff-runtime pause demo
skiff-runtime list
skiff-runtime resume demo

# kill signals init (the command, now). SIGKILL takes effect when the
# process next runs: give it a moment.
skiff-runtime kill demo KILL && sleep 1
skiff-runtime state demo
skiff-runtime delete demo
skiff-runtime list

# Errors go to stderr and, with --log, to a JSON line: the line containerd
# and Docker show their users.
skiff-runtime --log /tmp/log.json --log-format json start demo || cat /tmp/log.json
