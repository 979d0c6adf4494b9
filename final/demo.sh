# skiff: the runtime built from the lessons. First an image: the busybox
# rootfs of the lessons, imported as one layer.
skiff import $ROOTFS busybox
skiff images

# A container in the foreground, removed when it exits:
skiff run --rm busybox sh -c 'echo "hello from $(hostname), where I am PID $$"'

# One in the background, with a name, limits, a volume and a published port:
mkdir -p /tmp/www && echo "served by skiff" > /tmp/www/index.html
skiff run -d --name web -m 64m --cpus 0.5 -p 8080:80 -v /tmp/www:/www busybox httpd -f -p 80 -h /www
skiff ps
wget -q -O - http://127.0.0.1:8080/

# exec joins the container's namespaces and cgroup:
skiff exec web sh -c 'hostname; ps; cat /proc/self/cgroup'
skiff stats --no-stream web

# Containers that share a network namespace talk over localhost: a pod.
skiff run --rm --network container:web busybox wget -q -O - http://127.0.0.1:80/

# On a named network, containers find each other by name (ping needs
# CAP_NET_RAW, which skiff drops by default: chapter 10):
skiff network create backend
skiff run -d --name db --network backend busybox sleep 1000
skiff run --rm --network backend --cap-add NET_RAW busybox ping -c 1 db

# Stopping: SIGTERM, then SIGKILL after -t seconds (httpd, as PID 1, has
# no SIGTERM handler):
skiff stop -t 1 web
skiff ps -a
skiff rm web
skiff rm -f db
skiff network rm backend

# A container's upper layer becomes a new image layer:
skiff run --name builder busybox sh -c 'echo "made in a container" > /message'
skiff commit builder mine
skiff run --rm mine cat /message
skiff rm builder

# Nothing is left: no container, no veth, no NAT table, no container's
# cgroup (their parent, /sys/fs/cgroup/skiff, stays until system prune).
skiff ps -a
ip -o link | cut -d: -f2
ls -d /sys/fs/cgroup/skiff/*/ 2>/dev/null || echo "no container cgroups"
