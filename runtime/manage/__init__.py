"""pybox.runtime.manage: the docker/podman-style layer over the OCI runtime.

    from pybox.runtime.manage import containers, lifecycle
    box = lifecycle.run_container(root, run_options)        # image -> bundle -> running container
    containers.resolve(store, "web")                        # by name, id or unique id prefix
    lifecycle.stop(root, box, timeout=10); lifecycle.remove(root, box, force=True)

A container's bundle is its directory in the image store (containers/ID/, next to its overlay
upper/work/rootfs, as podman keeps userdata there): config.json, meta.json (name, image, ports,
lease, times, exit code), ctr.log (conmon's k8s-file log), etc/ (hosts, hostname, resolv.conf)
and exits/ (the exit status conmon writes). The runtime's own state stays under --root.
"""
