# Run in with-containerd: a containerd of its own, in a temporary folder,
# with the lessons' busybox imported as $IMAGE. ctr finds that containerd
# through CONTAINERD_ADDRESS and CONTAINERD_NAMESPACE.
ctr images ls -q

# ctr run with skiff-runtime in place of runc. $RUNTIME is skiff-runtime
# behind a script that logs each call's arguments; --runc-root and
# --fifo-dir keep the runtime's state and the stdio FIFOs in that folder.
ctr run --runc-binary $RUNTIME --runc-root $RUNC_ROOT --fifo-dir $FIFO_DIR --rm $IMAGE hello sh -c 'echo hello from PID $$'
# The calls the shim made, with the long paths written as variables:
calls() { sed -e "s|$BUNDLES|\$BUNDLES|g" -e "s|$RUNC_ROOT|\$RUNC_ROOT|g" $RUNTIME_CALLS; }
calls
: > $RUNTIME_CALLS

# A container in the background: ctr run -d returns once it runs.
ctr run --runc-binary $RUNTIME --runc-root $RUNC_ROOT --fifo-dir $FIFO_DIR -d $IMAGE web sleep 1000
ctr task ls
pid=$(ctr task ls | awk '$1 == "web" {print $2}')
# Its parent is the shim, not containerd, and not skiff-runtime, which exited:
ps -o pid,ppid,args -p $pid
ps -o pid,args -p $(ps -o ppid= -p $pid)
# skiff-runtime sees the same container, from the bundle containerd wrote:
skiff-runtime --root $RUNC_ROOT/$CONTAINERD_NAMESPACE state web
bundle=$(skiff-runtime --root $RUNC_ROOT/$CONTAINERD_NAMESPACE state web | sed -n 's/ *"bundle": "\(.*\)"/\1/p')
ls $bundle
# The shim mounted the image's layers at rootfs/ before it called create:
grep -o '"root":{[^}]*}' $bundle/config.json
findmnt -n -o FSTYPE $bundle/rootfs
grep -o '"cgroupsPath":"[^"]*"' $bundle/config.json

# exec, ps, pause and resume go to the runtime too:
ctr task exec --exec-id probe --fifo-dir $FIFO_DIR web ps
ctr task ps web
ctr task pause web && ctr task ls
ctr task resume web
ctr task kill --signal SIGKILL web && sleep 1
ctr task ls
ctr task rm web
ctr container rm web
calls | sed 's/.*--log-format json //'

# A command the image does not have: create fails, skiff-runtime writes its
# error to the bundle's log.json, and ctr shows that line:
ctr run --runc-binary $RUNTIME --runc-root $RUNC_ROOT --fifo-dir $FIFO_DIR --rm $IMAGE broken /no/such/command || echo "exit status $?"
