"""Real registries for the image tests: Debian's docker-registry on 127.0.0.1, plain, with htpasswd
or with token auth (a tiny JWT issuer), a fault-injecting proxy, and skopeo/umoci helpers.

Import the fixtures into a test module: `from integration.registry import registry, ...`.
"""

import base64
import datetime
import hashlib
import http.client
import http.server
import json
import os
import shutil
import socket
import stat
import subprocess
import threading
import time
import urllib.request

import pytest

USER, PASSWORD = "tester", "s3cret-pass"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RegistryServer:
    """docker-registry with filesystem storage in a temp dir; stopped by pid."""

    def __init__(self, workdir, auth=None, tls=None, extra=None):
        for tool in ("docker-registry", "skopeo", "umoci"):
            if not shutil.which(tool):
                pytest.skip(f"{tool} is not installed (scripts/install.sh --test)")
        self.workdir = str(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        config = {"version": 0.1, "log": {"level": "error"},
                  "storage": {"filesystem": {"rootdirectory": os.path.join(self.workdir, "data")},
                              "delete": {"enabled": True}},
                  "http": {"addr": self.host}}
        if auth:
            config["auth"] = auth
        if tls:
            config["http"]["tls"] = tls
        config.update(extra or {})
        self.config_path = os.path.join(self.workdir, "config.yml")
        with open(self.config_path, "w") as f:
            json.dump(config, f)  # JSON is YAML
        self.log = open(os.path.join(self.workdir, "registry.log"), "wb")
        self.proc = subprocess.Popen(["docker-registry", "serve", self.config_path],
                                     stdout=self.log, stderr=self.log)
        self._wait()

    def _wait(self):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {open(self.log.name).read()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def htpasswd_auth(workdir):
    import bcrypt
    path = os.path.join(str(workdir), "htpasswd")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=5)).decode()
    with open(path, "w") as f:
        f.write(f"{USER}:{hashed}\n")
    return {"htpasswd": {"realm": "pybox-test", "path": path}}


class TokenIssuer:
    """Docker Hub's token endpoint in miniature: checks basic auth, signs a JWT with an x5c chain."""

    service, issuer = "pybox-test-registry", "pybox-test-issuer"

    def __init__(self, workdir, anonymous_pull=False):
        self.key, self.cert_der = _self_signed()
        self.cert_path = os.path.join(str(workdir), "token-cert.pem")
        os.makedirs(str(workdir), exist_ok=True)
        with open(self.cert_path, "wb") as f:
            f.write(_pem(self.cert_der))
        self.anonymous_pull = anonymous_pull
        self.requests = []
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                issuer.answer(self)

            def log_message(self, *args):
                pass
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def auth_config(self):
        return {"token": {"realm": self.realm, "service": self.service, "issuer": self.issuer,
                          "rootcertbundle": self.cert_path}}

    def answer(self, handler):
        from urllib.parse import parse_qs, urlparse
        query = parse_qs(urlparse(handler.path).query)
        authorized = handler.headers.get("Authorization") == "Basic " + base64.b64encode(
            f"{USER}:{PASSWORD}".encode()).decode()
        self.requests.append((query, authorized))
        if handler.headers.get("Authorization") and not authorized:
            handler.send_response(401)
            handler.end_headers()
            return
        access = []
        for scope in query.get("scope", []):
            kind, name, actions = scope.split(":")
            allowed = actions.split(",") if authorized else (["pull"] if self.anonymous_pull else [])
            access.append({"type": kind, "name": name, "actions": allowed})
        body = json.dumps({"token": self.sign(access), "expires_in": 300}).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def sign(self, access):
        import jwt
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": USER, "aud": self.service, "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(), "access": access}
        return jwt.encode(claims, self.key, algorithm="RS256",
                          headers={"x5c": [base64.b64encode(self.cert_der).decode()]})

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def tls_files(workdir):
    """A self-signed certificate for 127.0.0.1: docker-registry's http.tls settings."""
    key, cert_der = _self_signed()
    cert_path, key_path = os.path.join(str(workdir), "tls.crt"), os.path.join(str(workdir), "tls.key")
    with open(key_path, "wb") as f:
        f.write(key)
    with open(cert_path, "wb") as f:
        f.write(_pem(cert_der))
    return {"certificate": cert_path, "key": key_path}


def _pem(der):
    return b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der) + b"-----END CERTIFICATE-----\n"


def _self_signed():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pybox test token issuer")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return pem, cert.public_bytes(serialization.Encoding.DER)


class FaultProxy:
    """A reverse proxy before a registry that injects faults from a queue of (path part, fault).

    A fault is an HTTP status (429, 500, ...) answered instead of forwarding, "cut": forward,
    send half the body, then drop the connection, "redirect": a 307 to the registry itself, or
    "norange": forward without the Range header, as servers that cannot resume do.
    """

    def __init__(self, upstream):
        self.upstream = upstream
        self.faults = []
        self.seen = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_one(self):
                proxy.forward(self)
            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_one

            def log_message(self, *args):
                pass
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take_fault(self, path):
        with self.lock:
            self.seen.append(path)
            for i, (part, fault) in enumerate(self.faults):
                if part in path:
                    del self.faults[i]
                    return fault
        return None

    def forward(self, handler):
        fault = self.take_fault(handler.path)
        if isinstance(fault, int):
            handler.send_response(fault)
            handler.send_header("Content-Length", "0")
            if fault == 429:
                handler.send_header("Retry-After", "0")
            handler.end_headers()
            return
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        if fault == "redirect":
            handler.send_response(307)
            handler.send_header("Location", f"http://{self.upstream}{handler.path}")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        conn = http.client.HTTPConnection(self.upstream, timeout=30)
        dropped = ("host", "range") if fault == "norange" else ("host",)
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in dropped}
        headers["Host"] = self.upstream
        conn.request(handler.command, handler.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        handler.send_response(resp.status)
        for key, value in resp.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                handler.send_header(key, value.replace(self.upstream, self.host))
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if fault == "cut":
            handler.wfile.write(data[: len(data) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
        elif handler.command != "HEAD":
            handler.wfile.write(data)
        conn.close()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# --- fixtures ------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    server = RegistryServer(tmp_path_factory.mktemp("registry"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def htpasswd_registry(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("registry-htpasswd")
    server = RegistryServer(workdir, htpasswd_auth(workdir))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("registry-token")
    issuer = TokenIssuer(workdir)
    server = RegistryServer(workdir, issuer.auth_config())
    server.issuer = issuer
    yield server
    server.stop()
    issuer.stop()


@pytest.fixture(scope="session")
def schema1_registry(tmp_path_factory):
    """A registry that still takes Docker schema 1 manifests (off by default since 2.8)."""
    server = RegistryServer(tmp_path_factory.mktemp("registry-schema1"),
                            extra={"compatibility": {"schema1": {"enabled": True}}})
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("registry-tls")
    server = RegistryServer(workdir, tls=tls_files(workdir))
    yield server
    server.stop()


@pytest.fixture
def fault_proxy(registry):
    proxy = FaultProxy(registry.host)
    yield proxy
    proxy.stop()


@pytest.fixture
def auth_file(tmp_path, monkeypatch):
    """A podman-style auth.json with the test user for every registry given to add()."""
    path = tmp_path / "auth.json"
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(path))
    auths = {}

    def add(host, user=USER, password=PASSWORD):
        auths[host] = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
        path.write_text(json.dumps({"auths": auths}))
    return add


# --- skopeo and umoci ----------------------------------------------------------------------

def skopeo_push(layout_dir, tag, dest, fmt=None, all_images=False, creds=None):
    """Copy tag of an OCI layout to docker://dest with skopeo (plain HTTP)."""
    cmd = ["skopeo", "copy", "-q", "--dest-tls-verify=false"]
    if fmt:
        cmd.append(f"--format={fmt}")
    if all_images:
        cmd.append("--all")
    if creds:
        cmd.append(f"--dest-creds={creds}")
    subprocess.run(cmd + [f"oci:{layout_dir}:{tag}", f"docker://{dest}"], check=True,
                   capture_output=True, timeout=120)


def umoci_rootfs(ref, workdir, creds=None):
    """What skopeo copy + umoci unpack make of docker://ref: the rootfs path."""
    layout = os.path.join(str(workdir), "umoci-oci")
    bundle = os.path.join(str(workdir), "umoci-bundle")
    cmd = ["skopeo", "copy", "-q", "--src-tls-verify=false"]
    if creds:
        cmd.append(f"--src-creds={creds}")
    subprocess.run(cmd + [f"docker://{ref}", f"oci:{layout}:img"], check=True,
                   capture_output=True, timeout=120)
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:img", bundle], check=True,
                   capture_output=True, timeout=120)
    return os.path.join(bundle, "rootfs")


def tree(root):
    """path → (type, mode, uid, gid, content digest or link target, xattrs) for a whole tree."""
    result = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            result[os.path.relpath(path, root)] = describe(path)
    return result


def describe(path):
    st = os.lstat(path)
    kind = stat.S_IFMT(st.st_mode)
    if stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            content = hashlib.sha256(f.read()).hexdigest()
    elif stat.S_ISLNK(st.st_mode):
        content = os.readlink(path)
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        content = st.st_rdev
    else:
        content = None
    xattrs = {}
    for key in os.listxattr(path, follow_symlinks=False):
        if not key.startswith("trusted.overlay."):
            xattrs[key] = os.getxattr(path, key, follow_symlinks=False)
    return kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, content, xattrs


def differences(ours, theirs):
    a, b = tree(ours), tree(theirs)
    diffs = [f"only in ours: {p}" for p in sorted(a.keys() - b.keys())]
    diffs += [f"only in umoci: {p}" for p in sorted(b.keys() - a.keys())]
    diffs += [f"{p}: ours {a[p]} umoci {b[p]}" for p in sorted(a.keys() & b.keys()) if a[p] != b[p]]
    return diffs


def http_get(url):
    return urllib.request.urlopen(url, timeout=10).read()
