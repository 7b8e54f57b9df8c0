"""Image references, normalised as docker and podman do: `alpine` is docker.io/library/alpine:latest."""

from pybox.errors import PyboxError

DOCKER_HUB = "docker.io"
DOCKER_HUB_ALIASES = ("index.docker.io", "registry-1.docker.io")
_TAG_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
_PATH_SEPARATORS = "._-"


class Reference:
    __slots__ = ("registry", "repository", "tag", "digest")

    def __init__(self, registry, repository, tag=None, digest=None):
        self.registry = registry
        self.repository = repository
        self.tag = tag
        self.digest = digest

    @property
    def name(self):
        """registry/repository, without tag or digest."""
        return f"{self.registry}/{self.repository}"

    def __str__(self):
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    def __repr__(self):
        return f"Reference({str(self)!r})"

    def with_digest(self, digest):
        return Reference(self.registry, self.repository, None, digest)

    @property
    def api_host(self):
        """The host serving the distribution API: Docker Hub's is not docker.io itself."""
        return "registry-1.docker.io" if self.registry == DOCKER_HUB else self.registry


def parse(text, default_tag="latest"):
    """Parse and normalise a reference; a bad one raises PyboxError naming it."""
    if not text or text != text.strip():
        raise PyboxError(f"invalid image reference {text!r}")
    rest, digest = _split_digest(text)
    registry, path = _split_registry(rest)
    path, tag = _split_tag(path, text)
    if registry == DOCKER_HUB and "/" not in path:
        path = "library/" + path
    _check_path(path, text)
    if tag is None and digest is None:
        tag = default_tag
    return Reference(registry, path, tag, digest)


def _split_digest(text):
    rest, at, digest = text.partition("@")
    if not at:
        return text, None
    check_digest(digest, f"image reference {text!r}")
    return rest, digest


def check_digest(digest, what):
    algo, colon, hexpart = digest.partition(":")
    lengths = {"sha256": 64, "sha512": 128}
    if not colon or algo not in lengths or len(hexpart) != lengths[algo] \
            or any(c not in "0123456789abcdef" for c in hexpart):
        raise PyboxError(f"{what}: invalid digest {digest!r}")
    return digest


def _split_registry(text):
    first, slash, remainder = text.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        return (DOCKER_HUB if first in DOCKER_HUB_ALIASES else first), remainder
    return DOCKER_HUB, text


def _split_tag(path, text):
    head, colon, tag = path.rpartition(":")
    if not colon or "/" in tag:
        return path, None
    if not tag or len(tag) > 128 or tag[0] in ".-" or any(c not in _TAG_CHARS for c in tag):
        raise PyboxError(f"invalid tag {tag!r} in image reference {text!r}")
    return head, tag


def _check_path(path, text):
    for component in path.split("/"):
        if not component or component != component.lower():
            raise PyboxError(f"invalid image reference {text!r}: repository names must be lowercase"
                             if component else f"invalid image reference {text!r}")
        if component[0] in _PATH_SEPARATORS or component[-1] in _PATH_SEPARATORS or \
                any(not (c.isascii() and (c.isalnum() or c in _PATH_SEPARATORS)) for c in component):
            raise PyboxError(f"invalid image reference {text!r}")


def looks_like_id(text):
    """A (possibly shortened) image id: hex only, with or without "sha256:"."""
    hexpart = text[7:] if text.startswith("sha256:") else text
    return 3 <= len(hexpart) <= 64 and all(c in "0123456789abcdef" for c in hexpart)
