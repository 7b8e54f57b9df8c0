"""Content digests: sha256 of blobs, and chain ids naming a layer together with those below it."""


def sha256_bytes(data):
    import hashlib
    return "sha256:" + hashlib.sha256(data).hexdigest()


def chain_id(parent_chain, diff_id):
    """The OCI chain id: the first layer's is its diff id; each next one hashes "parent diff"."""
    if parent_chain is None:
        return diff_id
    return sha256_bytes(f"{parent_chain} {diff_id}".encode())


def chain_ids(diff_ids):
    chains = []
    for diff_id in diff_ids:
        chains.append(chain_id(chains[-1] if chains else None, diff_id))
    return chains
