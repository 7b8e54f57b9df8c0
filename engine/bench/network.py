"""`pybox bench density --network bridge`: every container gets an eth0 on one bridge.

The bench moves itself into a network namespace of its own before anything else (unshare), so the
bridge, the veths' host ends and the nftables table live there and the host's network namespace is
untouched; the namespace goes when the bench exits, however it exits. Each container's veth is
plugged in by pybox.netns between create and start, from its init's pid, as the engine does it
(engine/net.py), the same way for every runtime.
"""

import os
import time

from pybox.errors import PyboxError

BRIDGE = "pyboxbench0"
SUBNET = "10.99.0.0/16"
TABLE = "pyboxbench"
NOTE = (f"--network bridge: the bench runs in a network namespace it made for itself, where the bridge "
        f"{BRIDGE} ({SUBNET}) and the nftables table {TABLE} live; the host's network namespace is untouched")


def enter_private_netns():
    """Call before any thread starts (a namespace is a thread's own): from here on this process,
    the runtimes it runs and their containers' veths live in a new network namespace."""
    from pybox import kernel as k
    from pybox.netns import loopback_up
    k.unshare(k.CLONE_NEWNET)
    loopback_up()


class Bridge:
    def __init__(self, base):
        from pybox.netns import Network
        self.net = Network(state_dir=os.path.join(base, "net"), bridge=BRIDGE, subnet=SUBNET, table=TABLE)

    def attach(self, cid, pid):
        self.net.attach(cid, pid)

    def detach(self, cid):
        try:
            self.net.detach(cid)
        except (PyboxError, OSError):
            pass

    def ports(self):
        return len(self.net.leases())

    def unplug_all(self, cids, attach_seconds, n):
        """Unplug every started container, timed, and the memory that gives back: the extra cost
        of the bridge per container (the network namespace itself is there with none too)."""
        from pybox.engine.bench.measure import memory_sample, percentiles_ms
        ports = self.ports()
        mem0, slab0 = memory_sample()
        t0 = time.perf_counter()
        for cid in cids:
            self.detach(cid)
        took = time.perf_counter() - t0
        time.sleep(1.5)  # veths are freed after RCU grace periods
        mem1, slab1 = memory_sample()
        return {"mode": "bridge", "bridge": BRIDGE, "ports": ports, "attach_ms": percentiles_ms(attach_seconds),
                "detach_all_seconds": round(took, 3),
                "memory_per_container_kib": round((mem1 - mem0) / n, 1),
                "slab_per_container_kib": round((slab0 - slab1) / n, 1)}

    def teardown(self):
        try:
            self.net.teardown()
        except (PyboxError, OSError):
            pass
