"""Registry settings: mirrors and insecure (plain-HTTP) registries, from a YAML file.

    # /etc/pybox/registries.yaml (or the file $PYBOX_REGISTRIES_CONF names)
    registries:
      docker.io:
        mirrors: ["mirror.example.com", "http://10.0.0.5:5000"]
      myregistry.local:5000:
        insecure: true          # TLS without certificate checks, falling back to plain HTTP
    retries: 5                  # attempts per request (429, 5xx, broken connections)
    backoff: 0.5                # seconds before the first retry; doubles each time
    limits:                     # decompression bombs; each also from an environment variable
      max_layer_size: 64G       # $PYBOX_MAX_LAYER_SIZE: bytes a layer (or a compressed archive)
                                # may hold once uncompressed, counting apparent file sizes
      max_ratio: 100            # $PYBOX_MAX_RATIO: uncompressed bytes per compressed byte ...
      ratio_floor: 64M          # $PYBOX_RATIO_FLOOR: ... once past this many bytes

Loopback registries (localhost, 127.0.0.0/8, ::1) are insecure unless `insecure: false`, as
docker treats them, and tried over plain HTTP first.
"""

import os

from pybox.errors import PyboxError

DEFAULT_PATH = "/etc/pybox/registries.yaml"


class Settings:
    def __init__(self, data=None, source="settings", insecure_hosts=()):
        data = data or {}
        if not isinstance(data, dict) or not isinstance(data.get("registries", {}), dict):
            raise PyboxError(f"{source}: expected a mapping with a `registries` mapping")
        self.registries = data.get("registries") or {}
        self.insecure_hosts = set(insecure_hosts)  # --tls-verify=false
        self.retries = max(1, _number(data, "retries", 5, int, source))
        self.backoff = _number(data, "backoff", 0.5, float, source)
        limits = data.get("limits") or {}
        if not isinstance(limits, dict):
            raise PyboxError(f"{source}: limits must be a mapping")
        self.limits = Limits(limits, source)

    @classmethod
    def load(cls, path=None):
        path = path or os.environ.get("PYBOX_REGISTRIES_CONF") or DEFAULT_PATH
        try:
            with open(path) as f:
                text = f.read()
        except FileNotFoundError:
            return cls()
        except OSError as err:
            raise PyboxError(f"{path}: {err.strerror}") from None
        import yaml
        try:
            return cls(yaml.safe_load(text), path)
        except yaml.YAMLError as err:
            raise PyboxError(f"{path}: invalid YAML: {str(err).splitlines()[0]}") from None

    def entry(self, host):
        value = self.registries.get(host) or {}
        return value if isinstance(value, dict) else {}

    def insecure(self, host):
        if host in self.insecure_hosts:
            return True
        setting = self.entry(host).get("insecure")
        if setting is not None:
            return bool(setting)
        return _loopback(host)

    def base_url(self, host):
        """Where to try first: plain HTTP for a loopback registry (docker-registry's default),
        HTTPS otherwise; an insecure registry may then fall back to the other scheme."""
        if host.startswith(("http://", "https://")):
            return host.rstrip("/")
        if _loopback(host) and self.entry(host).get("insecure") is None:
            return "http://" + host
        return "https://" + host

    def mirrors(self, registry):
        mirrors = self.entry(registry).get("mirrors") or []
        if not isinstance(mirrors, list):
            raise PyboxError(f"registries.{registry}.mirrors: expected a list of hosts")
        return [str(m) for m in mirrors]


class Limits:
    """How far a layer or an archive may expand before it is taken for a decompression bomb."""

    DEFAULTS = {"max_layer_size": 64 << 30, "max_ratio": 100, "ratio_floor": 64 << 20}
    ENV = {"max_layer_size": "PYBOX_MAX_LAYER_SIZE", "max_ratio": "PYBOX_MAX_RATIO",
           "ratio_floor": "PYBOX_RATIO_FLOOR"}

    def __init__(self, data=None, source="settings"):
        data = data or {}
        for key, default in self.DEFAULTS.items():
            env = os.environ.get(self.ENV[key])
            value, where = (env, f"${self.ENV[key]}") if env else \
                (data.get(key, default), f"{source}: limits.{key}")
            size = _size(value)
            if size is None or size <= 0:
                raise PyboxError(f"{where}: expected a positive size (bytes, or 10M, 2G ...), "
                                 f"not {value!r}")
            setattr(self, key, size)


def _size(value):
    from pybox.units import parse_size
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    try:
        return parse_size(str(value))
    except ValueError:
        return None


def _loopback(host):
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name in ("localhost", "[::1]", "::1") or name.startswith("127.")


def _number(data, key, default, kind, source):
    value = data.get(key, default)
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise PyboxError(f"{source}: {key} must be a number, not {value!r}") from None
