"""Registry credentials from the usual files, and WWW-Authenticate challenges."""

import os

DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io",
                   "registry-1.docker.io")


def auth_files():
    """Where podman and docker keep credentials, the first found winning."""
    files = []
    if os.environ.get("REGISTRY_AUTH_FILE"):
        files.append(os.environ["REGISTRY_AUTH_FILE"])
    from pybox.userns import user_runtime_dir  # the caller's, also inside its user namespace
    files.append(os.path.join(user_runtime_dir(), "containers", "auth.json"))
    docker_dir = os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker")
    files.append(os.path.join(docker_dir, "config.json"))
    return files


def credentials_for(registry):
    """(user, password) for a registry host, or None."""
    import json
    keys = DOCKER_HUB_KEYS if registry == "docker.io" else (registry, f"https://{registry}",
                                                            f"http://{registry}")
    for path in auth_files():
        try:
            with open(path) as f:
                auths = json.load(f).get("auths") or {}
        except (OSError, ValueError, AttributeError):
            continue
        for key in keys:
            found = _decode(auths.get(key) or auths.get(key.rstrip("/")))
            if found:
                return found
    return None


def _decode(entry):
    import base64
    if not isinstance(entry, dict):
        return None
    if entry.get("username") and entry.get("password"):
        return entry["username"], entry["password"]
    if entry.get("auth"):
        try:
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
        except ValueError:
            return None
        return (user, password) if user else None
    return None


def parse_challenge(header):
    """'Bearer realm="x",service="y"' → ("bearer", {"realm": "x", "service": "y"})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {}
    i = 0
    while i < len(rest):
        eq = rest.find("=", i)
        if eq < 0:
            break
        key = rest[i:eq].strip(" ,").lower()
        if rest[eq + 1:eq + 2] == '"':
            end = rest.find('"', eq + 2)
            end = len(rest) if end < 0 else end
            params[key] = rest[eq + 2:end]
            i = end + 1
        else:
            end = rest.find(",", eq)
            end = len(rest) if end < 0 else end
            params[key] = rest[eq + 1:end].strip()
            i = end + 1
    return scheme.lower(), params
