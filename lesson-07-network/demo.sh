# Lesson 07: a network namespace. The container has only lo and its eth0:
lesson-07-network run $ROOTFS ip addr
lesson-07-network run $ROOTFS ip route
# On the host side: the bridge, and the veth while a container runs.
lesson-07-network run --hostname web $ROOTFS sleep 5 &
sleep 1
ip -o link | cut -d: -f2
ip -o -4 addr show cfs0
wait

# The container reaches the bridge, the host's end of its network:
lesson-07-network run $ROOTFS ping -c 2 10.99.0.1

# Two containers on the bridge reach each other:
lesson-07-network run $ROOTFS sh -c 'ip -4 -o addr show eth0; sleep 5' &
sleep 1
lesson-07-network run $ROOTFS ping -c 2 10.99.0.2
wait

# A published port: busybox httpd in a container, port 8080 on the host.
mkdir -p /tmp/www && echo "hello from the container" > /tmp/www/index.html
lesson-07-network run -p 8080:80 -v /tmp/www:/www $ROOTFS httpd -f -p 80 -h /www &
sleep 1
wget -q -O - http://10.99.0.1:8080/
wget -q -O - http://127.0.0.1:8080/
# And from another container, through the host's published port:
lesson-07-network run $ROOTFS wget -q -O - http://10.99.0.1:8080/
# httpd is PID 1 without a SIGTERM handler: stop it with SIGKILL.
kill -KILL $(ps -o pid,ppid | awk -v runtime=$! '$2 == runtime {print $1}'); wait

# When the containers are gone, so are their veths, rules and addresses:
ip -o link | cut -d: -f2
ls /run/containers-from-scratch || echo "no addresses allocated"
rm -r /tmp/www
