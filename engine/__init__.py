"""pybox.engine: the docker/podman-style layer over the OCI runtime.

    from pybox.engine import containers, lifecycle, options
    store = lifecycle.open_store()
    box = lifecycle.create_box(root, store, options.parse_run(argv))  # image -> rootfs -> bundle
    lifecycle.start_detached(root, store, box)              # or run_foreground: returns the status
    box = containers.resolve(store, "web")                  # by name, id or unique id prefix
    lifecycle.stop(root, box, timeout=10); lifecycle.remove(root, store, box, force=True)

Its command line is `pybox` (engine/cli.py, engine/commands/), which calls down into this
package; the package imports nothing from the front ends, and the runtime (pybox.runtime)
imports nothing from it.

A container's bundle is the engine's own folder beside the image store's (containers/ID/,
owned by engine/containers.py): config.json, meta.json (name, image, ports, lease, times, exit
code), ctr.log (conmon's k8s-file log), etc/ (hosts, hostname, resolv.conf) and exits/ (the exit
status conmon writes). Its root.path is the writable layer the store mounts (rw/ID/rootfs); the
runtime's own state stays under --root.
"""
