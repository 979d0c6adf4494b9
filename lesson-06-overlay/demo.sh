# Lesson 06: image layers as an overlay. The rootfs is now a read-only
# image. Inside, the root is an overlay mount over it:
lesson-06-overlay run $ROOTFS sh -c 'head -1 /proc/self/mountinfo | tr , "\n"'

# Write, change and delete files, and keep the container's layer:
lesson-06-overlay run --keep $ROOTFS sh -c 'echo hello > /newfile; echo "# changed" >> /etc/profile; rm /etc/group'
upper=$(ls -d /var/lib/containers-from-scratch/*/upper)
# Everything the container did is in its upper layer: a new file, a
# copied-up file, and a whiteout (the 0, 0 character device) for the
# deleted one.
ls -lR $upper
# The image itself is untouched:
tail -1 $ROOTFS/etc/profile
ls $ROOTFS/etc

# A tar of the upper layer is what `docker commit` adds to an image as a
# new layer. Stacked with --layer, it brings the changes back:
lesson-06-overlay run --layer $upper $ROOTFS sh -c 'cat /newfile; ls /etc'
rm -r /var/lib/containers-from-scratch

# Two containers of one image never see each other's writes:
lesson-06-overlay run $ROOTFS sh -c 'echo "only mine" > /etc/motd; cat /etc/motd'
lesson-06-overlay run $ROOTFS cat /etc/motd || echo "exit status $?"
# Without --keep the container's layer is gone after it exits:
ls /var/lib/containers-from-scratch || echo "nothing left"
