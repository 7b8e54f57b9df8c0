#!/bin/sh
# Runs as PID 1 inside the cgroup v2 VM: a cgroup2-only /sys/fs/cgroup (cgroup_no_v1=all), then
# the cgroup test tier, whose summary and exit status go back over the serial console.
. /run/pybox-vm.conf
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
# Not over /tmp: the project or the venv may live there (the root overlay shows the host's /tmp,
# with writes going to the guest's tmpfs). Test scratch goes to a tmpfs of its own.
mount -t tmpfs tmpfs /run
mkdir -m 1777 /run/tmp
export TMPDIR=/run/tmp
mkdir -p /dev/shm /dev/pts && mount -t tmpfs tmpfs /dev/shm && mount -t devpts devpts /dev/pts
hostname pybox-cgroup2-vm
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
export PYTHONDONTWRITEBYTECODE=1 PYBOX_VM_DISK=/dev/vda
echo "pybox-vm: kernel $(uname -r), cgroup controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
cd "$PROJECT"
eval "\"\$PYTHON\" -m pytest -p no:cacheprovider --color=no $PYTEST_ARGS"
echo "PYBOX-VM-EXIT=$?"
sync
/bin/busybox poweroff -f 2>/dev/null || echo o > /proc/sysrq-trigger
while :; do :; done  # PID 1 must not exit before the power goes
