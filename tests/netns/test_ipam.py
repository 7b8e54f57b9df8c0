"""The lease book with plain files standing in for network namespaces (identity = dev + inode)."""

import ipaddress
import multiprocessing

import pytest

from pybox.errors import PyboxError
from pybox.netns.ipam import Book, NetnsRef, mac_for, parse_subnet


@pytest.fixture
def book(tmp_path):
    return Book(str(tmp_path / "net"), parse_subnet("10.5.0.0/29"))


def netns(tmp_path, name):
    path = tmp_path / name
    path.write_text("")
    return NetnsRef.of(str(path))


def test_addresses_skip_gateway_and_never_repeat(book, tmp_path):
    with book:
        leases = [book.allocate(f"c{i}", netns(tmp_path, f"n{i}"), []) for i in range(5)]
    assert [lease.address for lease in leases] == [f"10.5.0.{i}" for i in range(2, 7)]
    assert {lease.gateway for lease in leases} == {"10.5.0.1"}
    with book, pytest.raises(PyboxError, match="no free address left in 10.5.0.0/29"):
        book.allocate("c5", netns(tmp_path, "n5"), [])


def test_freed_address_is_reused_last(book, tmp_path):
    with book:
        book.allocate("a", netns(tmp_path, "a"), [])
        book.allocate("b", netns(tmp_path, "b"), [])
        book.release("a")
        assert book.allocate("c", netns(tmp_path, "c"), []).address == "10.5.0.4"


def test_book_survives_reopening(book, tmp_path):
    with book:
        book.allocate("a", netns(tmp_path, "a"), [("0.0.0.0", 80, 80, "tcp")])
    with book:
        assert book.leases["a"].ports == [("0.0.0.0", 80, 80, "tcp")]
        with pytest.raises(PyboxError, match="already attached"):
            book.allocate("a", netns(tmp_path, "a2"), [])


def test_lease_of_a_vanished_or_replaced_namespace_is_stale(book, tmp_path):
    with book:
        book.allocate("gone", netns(tmp_path, "gone"), [])
        book.allocate("replaced", netns(tmp_path, "replaced"), [])
        book.allocate("alive", netns(tmp_path, "alive"), [])
    (tmp_path / "gone").unlink()
    (tmp_path / "fresh").write_text("")  # made while the old file lives: another inode
    (tmp_path / "fresh").replace(tmp_path / "replaced")
    with book:
        assert sorted(lease.container_id for lease in book.stale()) == ["gone", "replaced"]


def test_mac_follows_the_address():
    assert mac_for(ipaddress.IPv4Address("10.88.0.2")) == "02:42:0a:58:00:02"


@pytest.mark.parametrize("subnet", ["10.0.0.0/31", "10.0.0.1/24", "fd00::/64", "nonsense"])
def test_bad_subnets(subnet):
    with pytest.raises(PyboxError, match="subnet"):
        parse_subnet(subnet)


def _allocate_many(state_dir, worker, count, tmp):
    book = Book(state_dir, parse_subnet("10.6.0.0/16"))
    addresses = []
    for i in range(count):
        path = f"{tmp}/w{worker}-{i}"
        open(path, "w").close()
        with book:
            addresses.append(book.allocate(f"w{worker}-{i}", NetnsRef.of(path), []).address)
    return addresses


def test_concurrent_processes_never_share_an_address(tmp_path):
    state_dir = str(tmp_path / "net")
    with multiprocessing.get_context("fork").Pool(4) as pool:
        results = pool.starmap(_allocate_many, [(state_dir, w, 50, str(tmp_path)) for w in range(4)])
    addresses = [a for chunk in results for a in chunk]
    assert len(addresses) == len(set(addresses)) == 200
