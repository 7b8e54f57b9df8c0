"""create's side of the conversation with its init: the container's record, its cgroup, the host's
hooks and seccomp listener fds (the protocol: sync.py; the fork and the loop: launch.py).

When the init is forked directly the record is written after the fork, in the time the parent
has while the init enters its namespaces and mounts its root: the pid is known at once, so the
record is saved once, pid included, and always before the cgroup exists (delete --force can undo
a create killed at any point). Before that save there is a state directory without a record,
which delete --force removes, and an init that exits as soon as its parent is gone.
"""

import os

from pybox.runtime.launch import Handlers, move_net_devices
from pybox.runtime.state import now_rfc3339, pid_start_time
from pybox.userns import in_user_namespace


class CreateHandlers(Handlers):
    def __init__(self, ctx, record, config, opts, notify_host):
        super().__init__(ctx)
        self.record = record
        self.config = config
        self.opts = opts
        self.notify_host = notify_host
        self._cgroup_made = False

    def record_container(self):
        """Open the cgroup, fill the record in and save the config (the record: the caller)."""
        if os.geteuid() != 0 or in_user_namespace():  # runc's rule: rootless cgroups in a userns
            from pybox.runtime.rootless import open_cgroup_rootless
            self.cgroup = open_cgroup_rootless(self.config, self.record.id, self.opts)
            self._cgroup_made = self.cgroup is not None
        else:
            self.cgroup = _open_cgroup(self.config, self.record.id, self.opts)
        self.record.data = _initial_record(self.config, self.record.id, self.opts,
                                           self.ctx.rootfs, self.cgroup)
        if self.notify_host:
            self.record.data["notify_socket"] = self.notify_host
        self.record.save_config(self.config)

    def on_pid(self, pid):
        if not self.record.data:
            self.record_container()
        super().on_pid(pid)
        self.record.data["pid"] = pid
        self.record.data["pid_start"] = pid_start_time(pid)
        self.record.save()  # from now on delete --force can find and kill the init
        move_net_devices(pid, self.ctx.linux.raw.get("netDevices"))
        if self.cgroup is not None and self.ctx.cgroup_mounts_at == "go":
            self._make_cgroup()  # the init binds its directories as soon as "go" comes
        return {"state": self.creating_state(),
                "cgroup_plan": self.cgroup.mount_plan() if self.cgroup else None}

    def prepare(self):
        # Making the cgroup overlaps with the init entering its namespaces and mounting.
        if self.cgroup is not None:
            self._make_cgroup()
            self.cgroup.apply(self.config.resources)  # checked with the rest, before the fork

    def _make_cgroup(self):
        if self._cgroup_made:
            return
        self.cgroup.create()
        self._cgroup_made = True
        if self.pid is not None and set(self.cgroup.created) - set(self.cgroup.dirs()):
            self.record.save()  # the pid is saved already: now the parents delete must remove

    def after_go(self):
        # Early, in the hierarchies that charge nothing for the past: should the warm-up have
        # failed, the first migration's RCU grace period (pybox.cgroups.warmup) is paid here,
        # while the init pivots, rather than at its "cgroup".
        if self.cgroup is not None:
            self.cgroup.add_uncharged(self.pid)

    def creating_state(self):
        return self.record.oci_state(status="creating")

    def on_hooks(self):
        from pybox.runtime.hooks import run_hooks
        state = self.creating_state()
        run_hooks(self.config, "prestart", state)
        run_hooks(self.config, "createRuntime", state)

    def on_seccomp(self, fd):
        from pybox.seccomp import send_listener
        try:
            send_listener(self.ctx.seccomp, fd, self.creating_state())
        finally:
            os.close(fd)


def _initial_record(config, container_id, opts, rootfs, cgroup):
    from pybox import OCI_VERSION
    return {
        "ociVersion": OCI_VERSION, "id": container_id, "bundle": opts.bundle, "rootfs": rootfs,
        "created": now_rfc3339(), "annotations": config.annotations, "owner": "",
        "cgroup": cgroup.to_record() if cgroup else None,
    }


def _open_cgroup(config, container_id, opts):
    from pybox.cgroups import open_manager
    return open_manager(config.linux.cgroupsPath, container_id, systemd=opts.systemd_cgroup)
