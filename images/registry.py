"""A client for the OCI distribution API: manifests, blobs, token and basic auth, retries.

Auth follows Docker Hub's flow: a 401 names a Bearer realm (or Basic), the client asks the realm
for a token for the repository scope (with the user's credentials when it has some) and retries.
Requests that fail with 429/5xx, a timeout or a broken connection are retried with backoff (and
Retry-After); an unknown host, a refused connection or a TLS failure is reported at once. A blob
download that breaks resumes with a Range request from the bytes it already has.
"""

import io
import os
import time

from pybox.errors import PyboxError
from pybox.images import manifests

RETRY_STATUS = (408, 429, 500, 502, 503, 504)
CHUNK = 1 << 20
USER_AGENT = "pybox/0.1"


class Registry:
    def __init__(self, host, settings=None, credentials=None, actions="pull"):
        import requests
        from pybox.images.settings import Settings
        self.host = host
        self.settings = settings or Settings.load()
        self.base = self.settings.base_url(host)
        # An insecure registry: TLS without certificate checks, or the other scheme if the
        # first one fails.
        self.other_scheme = self.settings.insecure(host) and "://" not in host
        self.credentials = credentials
        self.actions = actions
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        # Passed with each request: requests lets $REQUESTS_CA_BUNDLE override session.verify.
        self.verify = not self.settings.insecure(host)
        if not self.verify:
            import urllib3
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self.tokens = {}
        self.auth_header = {}
        self.attempts = self.settings.retries
        self.backoff = self.settings.backoff

    # --- requests with auth and retries ----------------------------------------------------
    def request(self, method, path, repo, what, ok=(200,), headers=None, **kw):
        """Send; authenticate on 401; retry 429/5xx and broken connections. Returns the response."""
        import requests
        url = path if path.startswith("http") else self.base + path
        failures = 0  # logging in and switching scheme are not failures; each happens once
        while True:
            if hasattr(kw.get("data"), "seek"):
                kw["data"].seek(0)  # a retried upload sends the file again from its start
            try:
                resp = self.session.request(method, url, headers={**(headers or {}),
                                            **self.auth_header.get(repo, {})}, timeout=60,
                                            verify=self.verify, **kw)
            except requests.RequestException as err:
                if self.other_scheme and url.startswith(self.base):
                    url = self._switch_scheme(url)
                    continue
                failures += 1
                final = _final(err)  # no retry can succeed: say so now, not after 7 s of retries
                if final or failures >= self.attempts:
                    raise PyboxError(f"{what}: {final or _reason(err)}") from None
                self._sleep(failures - 1, None)
                continue
            if resp.status_code == 400 and self.other_scheme and self.base.startswith("http:"):
                resp.close()  # "Client sent an HTTP request to an HTTPS server"
                url = self._switch_scheme(url)
                continue
            if resp.status_code == 401 and self._may_authenticate(repo):
                self.authenticate(resp, repo, what)
                continue
            if resp.status_code in RETRY_STATUS and failures + 1 < self.attempts:
                failures += 1
                resp.close()
                self._sleep(failures - 1, resp.headers.get("Retry-After"))
                continue
            if resp.status_code not in ok:
                raise PyboxError(f"{what}: {_status_text(resp)}")
            return resp

    def _switch_scheme(self, url):
        scheme, rest = self.base.split("://", 1)
        other = ("https://" if scheme == "http" else "http://") + rest
        url = other + url[len(self.base):]
        self.base = other
        self.other_scheme = False
        return url

    def _sleep(self, attempt, retry_after):
        delay = self.backoff * (2 ** attempt)
        if retry_after and retry_after.isdigit():
            delay = max(delay, min(int(retry_after), 30))
        time.sleep(delay)

    def _may_authenticate(self, repo):
        # Once per repository, or again when the token may have expired (Docker Hub's last 5
        # minutes, shorter than a big pull).
        since = self.tokens.get(repo)
        return since is None or time.monotonic() - since > 30

    def authenticate(self, resp, repo, what):
        from pybox.images.auth import parse_challenge
        scheme, params = parse_challenge(resp.headers.get("WWW-Authenticate", ""))
        resp.close()
        if scheme == "bearer":
            token = self.fetch_token(params, repo, what)
            self.auth_header[repo] = {"Authorization": f"Bearer {token}"}
        elif scheme == "basic" and self.credentials:
            import base64
            raw = base64.b64encode(f"{self.credentials[0]}:{self.credentials[1]}".encode()).decode()
            self.auth_header[repo] = {"Authorization": f"Basic {raw}"}
        else:
            raise PyboxError(f"{what}: the registry asks for credentials (log in to {self.host})")
        self.tokens[repo] = time.monotonic()

    def fetch_token(self, params, repo, what):
        import requests
        realm = params.get("realm")
        if not realm:
            raise PyboxError(f"{what}: the registry's Bearer challenge has no realm")
        query = {"service": params["service"]} if params.get("service") else {}
        # Our own scope, not the challenge's: a HEAD before a push is challenged for pull only.
        query["scope"] = f"repository:{repo}:{self.actions}"
        auth = tuple(self.credentials) if self.credentials else None
        try:
            resp = self.session.get(realm, params=query, auth=auth, timeout=60, verify=self.verify)
        except requests.RequestException as err:
            raise PyboxError(f"{what}: token from {realm}: {_reason(err)}") from None
        if resp.status_code != 200:
            raise PyboxError(f"{what}: token from {realm}: {_status_text(resp)}")
        try:
            body = resp.json()
            token = body.get("token") or body.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not token:
            raise PyboxError(f"{what}: token from {realm}: the answer holds no token")
        return token

    # --- manifests -------------------------------------------------------------------------
    def get_manifest(self, repo, reference, what):
        """(body bytes, digest) of a manifest or index, by tag or digest."""
        from pybox.images.digests import sha256_bytes
        resp = self.request("GET", f"/v2/{repo}/manifests/{reference}", repo, what,
                            headers={"Accept": manifests.ACCEPT})
        body = resp.content
        if len(body) > 4 << 20:
            raise PyboxError(f"{what}: manifest larger than 4 MiB")
        digest = sha256_bytes(body)
        if reference.startswith("sha256:") and digest != reference:
            raise PyboxError(f"{what}: manifest content has digest {digest}, not {reference}")
        return body, digest

    def put_manifest(self, repo, reference, body, media_type, what):
        self.request("PUT", f"/v2/{repo}/manifests/{reference}", repo, what, ok=(201, 200, 202),
                     headers={"Content-Type": media_type}, data=body)

    # --- blobs -----------------------------------------------------------------------------
    def fetch_blob(self, repo, digest, dest, what, progress=None):
        """Download blob digest into dest (a temporary path), verified; resumes broken transfers."""
        with self.blob_reader(repo, digest, dest, what, progress) as reader:
            while reader.read(CHUNK):
                pass

    def blob_reader(self, repo, digest, dest, what, progress=None):
        return BlobReader(self, repo, digest, dest, what, progress)

    def blob_exists(self, repo, digest, what):
        return self.request("HEAD", f"/v2/{repo}/blobs/{digest}", repo, what,
                            ok=(200, 404)).status_code == 200

    def upload_blob(self, repo, digest, path, what):
        """A monolithic upload: POST for a session, then PUT the whole blob with its digest."""
        resp = self.request("POST", f"/v2/{repo}/blobs/uploads/", repo, what, ok=(202,))
        location = resp.headers.get("Location")
        if not location:
            raise PyboxError(f"{what}: the registry gave no upload location")
        if not location.startswith("http"):
            location = self.base + location
        sep = "&" if "?" in location else "?"
        with open(path, "rb") as f:
            self.request("PUT", f"{location}{sep}digest={digest}", repo, what, ok=(201,),
                         headers={"Content-Type": "application/octet-stream",
                                  "Content-Length": str(os.path.getsize(path))}, data=f)


class BlobReader(io.RawIOBase):
    """A blob as a stream, saved to `dest` and hashed as it is read; a broken connection is
    resumed with a Range request. Leaving the `with` block reads the rest and checks the digest.
    """

    def __init__(self, registry, repo, digest, dest, what, progress):
        import hashlib
        super().__init__()
        self.registry, self.repo, self.digest, self.what = registry, repo, digest, what
        self.progress = progress
        self.out = open(dest, "wb")
        self.hash = hashlib.sha256()
        self.done = 0
        self.resp = None

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def read(self, size=CHUNK):
        for attempt in range(self.registry.attempts):
            try:
                if self.resp is None:
                    self._connect()
                data = self.resp.raw.read(size, decode_content=False)
            except PyboxError:
                raise
            except Exception:  # urllib3 and socket errors of a broken connection
                self._disconnect()
                if attempt + 1 == self.registry.attempts:
                    raise PyboxError(f"{self.what}: connection broke after {self.done} bytes") from None
                self.registry._sleep(attempt, None)
                continue
            self.out.write(data)
            self.hash.update(data)
            self.done += len(data)
            if self.progress and data:
                self.progress.advance(self.digest, self.done)
            return data
        return b""

    def _connect(self):
        headers = {"Range": f"bytes={self.done}-"} if self.done else {}
        self.resp = self.registry.request("GET", f"/v2/{self.repo}/blobs/{self.digest}", self.repo,
                                          self.what, ok=(200, 206), headers=headers, stream=True)
        if self.resp.status_code == 200 and self.done:
            # The server ignored Range. What was read is already unpacked: skip it again.
            skip = self.done
            while skip:
                data = self.resp.raw.read(min(CHUNK, skip), decode_content=False)
                if not data:
                    raise ConnectionError("blob ended early")
                skip -= len(data)

    def _disconnect(self):
        if self.resp is not None:
            self.resp.close()
            self.resp = None

    def __exit__(self, kind, value, tb):
        try:
            if kind is None:
                while self.read(CHUNK):
                    pass
                actual = "sha256:" + self.hash.hexdigest()
                if actual != self.digest:
                    raise PyboxError(f"{self.what}: downloaded content has digest {actual}, "
                                     f"not {self.digest}")
        finally:
            self._disconnect()
            self.out.close()
            self.close()


def _final(err):
    """The one-line cause when err is one that retrying cannot change (no such host, connection
    refused, TLS spoken to a plain-HTTP server, a certificate that does not verify), else None."""
    import socket
    import ssl
    host = _host_of(err)
    for cause in _causes(err):
        if isinstance(cause, socket.gaierror):
            return f"cannot resolve {host.split(':')[0]} (no network, or no such host)"
        if isinstance(cause, ConnectionRefusedError):
            return f"{host} refused the connection (is a registry listening there?)"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"{host}: TLS certificate verify failed ({cause.verify_message}); " \
                   "pull with --tls-verify=false to skip the check"
        if isinstance(cause, ssl.SSLError) and any(
                word in str(cause) for word in ("WRONG_VERSION_NUMBER", "wrong version number",
                                                "record layer failure", "packet length too long")):
            return f"{host} answered TLS with plain HTTP: it is a plain-HTTP registry " \
                   "(pull with --tls-verify=false, or set insecure: true for it in registries.yaml)"
    return None


def _host_of(err):
    host = getattr(getattr(err, "request", None), "url", "") or ""
    return host.split("/")[2] if host.count("/") >= 2 else "the registry"


def _reason(err):
    """One short line: the socket-level cause when there is one, not urllib3's whole chain."""
    import socket
    final = _final(err)
    if final:
        return final
    host = _host_of(err)
    for cause in _causes(err):
        if isinstance(cause, (TimeoutError, socket.timeout)):
            return f"{host} did not answer in time"
    text = str(err)
    return text.splitlines()[0][:300] if text else type(err).__name__


def _causes(err, depth=0):
    """err and everything it wraps: __cause__, __context__, args and urllib3's .reason."""
    if err is None or depth > 8:
        return
    yield err
    for inner in (err.__cause__, err.__context__, getattr(err, "reason", None),
                  *(a for a in getattr(err, "args", ()) if isinstance(a, BaseException))):
        if isinstance(inner, BaseException) and inner is not err:
            yield from _causes(inner, depth + 1)


def _status_text(resp):
    detail = ""
    try:
        errors = resp.json().get("errors") or []
        if errors:
            detail = ": " + "; ".join(f"{e.get('code')} {e.get('message', '')}".strip() for e in errors)
    except ValueError:
        pass
    if resp.status_code == 404 and not detail:
        detail = ": not found"
    return f"HTTP {resp.status_code}{detail}".replace("\n", " ")[:400]
