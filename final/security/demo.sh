# The attack suite: skiff-attack tries, from inside a container, what the
# chapters say a container must not do, and prints one line per attempt:
# BLOCKED with the errno, or ESCAPED with what it did.
skiff import $ROOTFS busybox
attack=$(dirname $(command -v skiff-attack))
skiff run --rm -v $attack:/attack:ro busybox /attack/skiff-attack

# Without the seccomp filter, two attacks get through: the host's keyring,
# and a user namespace of the container's own.
skiff run --rm -v $attack:/attack:ro --security-opt seccomp=unconfined busybox /attack/skiff-attack keyring nested-userns

# --privileged gives away nearly everything:
skiff run --rm -v $attack:/attack:ro --privileged busybox /attack/skiff-attack mount dev-mem load-module kexec

# A user namespace: root inside is uid 100000 outside.
skiff run --rm --userns private busybox cat /proc/self/uid_map
skiff run -d --name mapped --userns private busybox sleep 60
ps -o user,comm | grep sleep
skiff rm -f mapped

# What a seccomp filter is: the BPF program a one-rule profile compiles to.
echo '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}' > /tmp/mkdir.json
skiff-runtime seccomp /tmp/mkdir.json
skiff run --rm --security-opt seccomp=/tmp/mkdir.json busybox mkdir /tmp/x || echo "status $?"
