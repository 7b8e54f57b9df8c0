#!/bin/busybox sh
# PID 1 of the throw-away cgroup v2 VM (scripts/cgroup2-vm): load the 9p and overlay modules,
# make a writable root from the host's read-only root (upper dirs on tmpfs, never on 9p), mount
# the project folder, and hand over to integration/vm/guest.sh.
/bin/busybox --install -s /bin
echo "pybox-vm: initramfs up"  # the host's boot deadline ends at the first pybox-vm: line
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
. /vm.conf
for m in $MODULES; do insmod "/modules/$m" || echo "pybox-vm: insmod $m failed"; done

p9="trans=virtio,version=9p2000.L,msize=262144,cache=loose,ro"
mkdir -p /host /project /rw
mount -t 9p -o "$p9" hostroot /host || { echo "pybox-vm: cannot mount the host root"; poweroff -f; }
mount -t 9p -o "$p9" project /project || { echo "pybox-vm: cannot mount the project"; poweroff -f; }
mount -t tmpfs -o size=1536m,mode=755 tmpfs /rw
mkdir -p /rw/root/upper /rw/root/work /rw/project/upper /rw/project/work /newroot
mount -t overlay overlay -o lowerdir=/host,upperdir=/rw/root/upper,workdir=/rw/root/work /newroot \
    || { echo "pybox-vm: overlay root failed"; poweroff -f; }
mkdir -p "/newroot$PROJECT"
mount -t overlay overlay \
    -o "lowerdir=/project,upperdir=/rw/project/upper,workdir=/rw/project/work" "/newroot$PROJECT"
cp /vm.conf /newroot/run/pybox-vm.conf
mount -o move /dev /newroot/dev
umount /proc /sys
exec switch_root /newroot /bin/sh "$PROJECT/integration/vm/guest.sh"
