"""pybox port CONTAINER [PRIVATE_PORT[/PROTO]]: the published ports of a running container, as
docker and podman print them (a stopped one has none bound: nothing is printed)."""

from pybox.args import Parser

parser = Parser("port", [], positionals=["container"], optional=["port"],
                usage="port CONTAINER [PRIVATE_PORT[/PROTO]]",
                description="List a container's port mappings, or the host address of one port.")


def main(g, argv):
    from pybox.errors import PyboxError
    from pybox.engine.each import one
    from pybox.engine.lifecycle import status_of
    _, v = parser.parse(argv)
    _, box = one(v["container"])
    running = status_of(g.root, box) in ("running", "paused")  # docker's and podman's: bound only then
    ports = [tuple(p) for p in box.data.get("ports") or []] if running else []
    if v["port"] is None:
        for ip, host, ctr, proto in ports:
            print(f"{ctr}/{proto} -> {ip}:{host}")
        return 0
    number, _, proto = v["port"].partition("/")
    hits = [(ip, host) for ip, host, ctr, p in ports if str(ctr) == number and p == (proto or "tcp")]
    if not hits:
        raise PyboxError(f"port: container {box.name} has no published port {v['port']}")
    for ip, host in hits:
        print(f"{ip}:{host}")
    return 0
