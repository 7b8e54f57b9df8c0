"""pybox's own nftables table, driven through nft's JSON interface.

    table ip <table>
      chain prerouting  (nat, dstnat)  fib daddr type local jump publish
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

NFT = "/usr/sbin/nft"


def run(commands):
    """Apply a list of JSON commands as one atomic transaction."""
    if commands:
        _nft(["-j", "-f", "-"], {"nftables": commands})


def query(*args):
    """`nft -j -a <args>` parsed; None when the object does not exist."""
    import json

    result = _nft(["-j", "-a", *args], None, check=False)
    if result.returncode != 0:
        if "No such file or directory" in result.stderr:
            return None
        raise PyboxError(f"nft {' '.join(args)}: {result.stderr.strip()}")
    return json.loads(result.stdout)["nftables"]


def _nft(args, payload, check=True):
    import json
    import subprocess

    text = json.dumps(payload) if payload is not None else None
    try:
        result = subprocess.run([NFT, *args], input=text, capture_output=True, text=True)
    except FileNotFoundError:
        raise PyboxError(f"{NFT} not found: install the nftables package") from None
    if check and result.returncode != 0:
        raise PyboxError(f"nft: {result.stderr.strip().splitlines()[0] if result.stderr else 'failed'}")
    return result


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
        for chain in ("prerouting", "output"):
            commands.append(self._rule(chain, _match(_fib_daddr_type(), "local"),
                                       {"jump": {"target": "publish"}}))
        subnet = _prefix(self.subnet)
        commands += [
            self._rule("postrouting", _match(_payload("ip", "saddr"), subnet),
                       _match(_meta("oifname"), self.bridge, op="!="), {"masquerade": None}),
            # localhost access: the reply must come back to the host, not to 127.0.0.1 of
            # the container (route_localnet lets such packets leave at all)
            self._rule("postrouting", _match(_meta("oifname"), self.bridge), _ct_dnat(),
                       _match(_payload("ip", "saddr"), {"prefix": {"addr": "127.0.0.0", "len": 8}}),
                       {"masquerade": None}),
            # hairpin: a container reaching a published port of its own bridge
            self._rule("postrouting", _match(_meta("oifname"), self.bridge), _ct_dnat(),
                       _match(_payload("ip", "saddr"), subnet), {"masquerade": None}),
        ]
        return commands

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
        listing = query("list", "chain", "ip", self.name, "publish") or []
        return [{"delete": {"rule": self._obj(chain="publish", handle=item["rule"]["handle"])}}
                for item in listing
                if "rule" in item and item["rule"].get("comment") in container_ids]

    def published(self):
        """{container id: number of publish rules} as the kernel has them."""
        counts = {}
        for item in query("list", "chain", "ip", self.name, "publish") or []:
            if "rule" in item:
                cid = item["rule"].get("comment")
                counts[cid] = counts.get(cid, 0) + 1
        return counts

    def delete(self):
        if query("list", "table", "ip", self.name) is not None:
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
