"""pybox's own nftables table, driven through the JSON interface of libnftables.

    table ip <table>
      chain prerouting  (nat, dstnat)  ip daddr != 127.0.0.0/8 fib daddr type local jump publish
      chain output      (nat, dstnat)  fib daddr type local jump publish     # host -> own port
      chain publish                    [ip daddr H] tcp dport P dnat to ADDR:PORT comment "<id>"
      chain postrouting (nat, srcnat)  ip saddr SUBNET oifname != BRIDGE masquerade  # outbound
                                       oifname BRIDGE ct status dnat ip saddr 127.0.0.0/8 masquerade
                                       oifname BRIDGE ct status dnat ip saddr SUBNET masquerade

The base chains are flushed and refilled in the same transaction that creates them, so setting
up is idempotent and safe to race. Each published port is one rule in `publish` whose comment is
the container id: that is how detach finds them again, even after a crash.
"""

from pybox.errors import PyboxError

_OUTPUT_HANDLE = 1 << 3
_OUTPUT_JSON = 1 << 4
_lib = None


def run(commands):
    """Apply a list of JSON commands as one atomic transaction."""
    if commands:
        ok, _, error = _run_json({"nftables": commands})
        if not ok:
            raise PyboxError(f"nftables: {_first_line(error)}")


def query(*words):
    """`list ...` as parsed JSON items (with handles); None when the object does not exist."""
    import json

    ok, output, error = _run_json({"nftables": [{"list": _list_object(*words)}]})
    if not ok:
        if "No such file or directory" in error:
            return None
        raise PyboxError(f"nftables: list {' '.join(words)}: {_first_line(error)}")
    return json.loads(output)["nftables"]


def _list_object(kind, family, table, chain=None):
    obj = {"family": family, "name": table} if chain is None else \
        {"family": family, "table": table, "name": chain}
    return {kind: obj}


def _run_json(payload):
    """One libnftables context per call: its netlink socket belongs to the namespace this
    thread is in at creation, and the caller may have moved since."""
    import json

    ffi, lib = _libnftables()
    ctx = lib.nft_ctx_new(0)
    try:
        lib.nft_ctx_output_set_flags(ctx, _OUTPUT_JSON | _OUTPUT_HANDLE)
        lib.nft_ctx_buffer_output(ctx)
        lib.nft_ctx_buffer_error(ctx)
        ok = lib.nft_run_cmd_from_buffer(ctx, json.dumps(payload).encode()) == 0
        output = ffi.string(lib.nft_ctx_get_output_buffer(ctx)).decode()
        error = ffi.string(lib.nft_ctx_get_error_buffer(ctx)).decode()
    finally:
        lib.nft_ctx_free(ctx)
    return ok, output, error


def _libnftables():
    global _lib
    if _lib is None:
        from pybox.netns._libnftables_ffi import ffi

        try:
            _lib = ffi, ffi.dlopen("libnftables.so.1")
        except OSError:
            raise PyboxError("libnftables.so.1 not found: install the libnftables1 package") from None
    return _lib


def _first_line(text):
    return text.strip().splitlines()[0] if text.strip() else "failed"


class Table:
    """The rules of one bridge network, as JSON commands."""

    def __init__(self, name, bridge, subnet):
        self.name = name
        self.bridge = bridge
        self.subnet = subnet

    def _obj(self, **fields):
        return {"family": "ip", "table": self.name, **fields}

    def _rule(self, chain, *expr, comment=None):
        rule = self._obj(chain=chain, expr=list(expr))
        if comment is not None:
            rule["comment"] = comment
        return {"add": {"rule": rule}}

    def setup(self):
        """Create the table and refill its base chains; leaves the publish rules alone."""
        commands = [{"add": {"table": {"family": "ip", "name": self.name}}},
                    {"add": {"chain": self._obj(name="publish")}}]
        for chain, hook, prio in (("prerouting", "prerouting", -100), ("output", "output", -100),
                                  ("postrouting", "postrouting", 100)):
            commands += [
                {"add": {"chain": self._obj(name=chain, type="nat", hook=hook, prio=prio,
                                            policy="accept")}},
                {"flush": {"chain": self._obj(name=chain)}},
            ]
        loopback = {"prefix": {"addr": "127.0.0.0", "len": 8}}
        commands += [
            # a packet for 127.0.0.1 arriving from outside is forged: never forward it to a port
            # published on localhost (CVE-2020-8558 in kube-proxy, for the same route_localnet)
            self._rule("prerouting", _match(_payload("ip", "daddr"), loopback, op="!="),
                       _match(_fib_daddr_type(), "local"), {"jump": {"target": "publish"}}),
            self._rule("output", _match(_fib_daddr_type(), "local"), {"jump": {"target": "publish"}}),
        ]
        subnet = _prefix(self.subnet)
        commands += [
            self._rule("postrouting", _match(_payload("ip", "saddr"), subnet),
                       _match(_meta("oifname"), self.bridge, op="!="), {"masquerade": None}),
            # localhost access: the reply must come back to the host, not to 127.0.0.1 of
            # the container (route_localnet lets such packets leave at all)
            self._rule("postrouting", _match(_meta("oifname"), self.bridge), _ct_dnat(),
                       _match(_payload("ip", "saddr"), loopback), {"masquerade": None}),
            # hairpin: a container reaching a published port of its own bridge
            self._rule("postrouting", _match(_meta("oifname"), self.bridge), _ct_dnat(),
                       _match(_payload("ip", "saddr"), subnet), {"masquerade": None}),
        ]
        return commands

    def ready(self):
        return query("chain", "ip", self.name, "postrouting") is not None

    def publish(self, container_id, address, ports):
        commands = []
        for host_ip, host_port, container_port, proto in ports:
            expr = [] if host_ip == "0.0.0.0" else [_match(_payload("ip", "daddr"), host_ip)]
            expr += [_match(_payload(proto, "dport"), host_port),
                     {"dnat": {"addr": address, "port": container_port}}]
            commands.append(self._rule("publish", *expr, comment=container_id))
        return commands

    def unpublish(self, container_ids):
        """Commands deleting the publish rules of these containers (reads the chain)."""
        listing = query("chain", "ip", self.name, "publish") or []
        return [{"delete": {"rule": self._obj(chain="publish", handle=item["rule"]["handle"])}}
                for item in listing
                if "rule" in item and item["rule"].get("comment") in container_ids]

    def published(self):
        """{container id: number of publish rules} as the kernel has them."""
        counts = {}
        for item in query("chain", "ip", self.name, "publish") or []:
            if "rule" in item:
                cid = item["rule"].get("comment")
                counts[cid] = counts.get(cid, 0) + 1
        return counts

    def delete(self):
        if query("table", "ip", self.name) is not None:
            run([{"delete": {"table": {"family": "ip", "name": self.name}}}])


def _match(left, right, op="=="):
    return {"match": {"op": op, "left": left, "right": right}}


def _payload(protocol, field):
    return {"payload": {"protocol": protocol, "field": field}}


def _meta(key):
    return {"meta": {"key": key}}


def _fib_daddr_type():
    return {"fib": {"result": "type", "flags": ["daddr"]}}


def _ct_dnat():
    return _match({"ct": {"key": "status"}}, "dnat", op="in")


def _prefix(network):
    return {"prefix": {"addr": str(network.network_address), "len": network.prefixlen}}
