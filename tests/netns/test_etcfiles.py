import os

from pybox.netns.etcfiles import hosts, resolv_conf, write_etc_files
from pybox.netns.ipam import Lease


def test_files_for_a_bridge_container(tmp_path):
    lease = Lease(address="10.88.0.7")
    paths = write_etc_files(str(tmp_path / "etc"), "web", lease, dns=["1.1.1.1", "9.9.9.9"],
                            extra_hosts=[("db", "10.0.0.5")])
    assert sorted(paths) == ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"]
    read = {name: open(path).read() for name, path in paths.items()}
    assert read["/etc/hostname"] == "web\n"
    assert read["/etc/resolv.conf"] == "nameserver 1.1.1.1\nnameserver 9.9.9.9\n"
    assert "10.88.0.7\tweb\n" in read["/etc/hosts"]
    assert "10.0.0.5\tdb\n" in read["/etc/hosts"]
    assert oct(os.stat(paths["/etc/hosts"]).st_mode & 0o777) == "0o644"


def test_without_a_lease_the_hostname_is_on_loopback():
    assert hosts("box").startswith("127.0.0.1\tlocalhost box\n")


def test_host_resolvers_on_loopback_are_dropped(tmp_path):
    host = tmp_path / "resolv.conf"
    host.write_text("# generated\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch example.org\n")
    assert resolv_conf(host_file=str(host)) == "nameserver 192.0.2.53\nsearch example.org\n"


def test_only_loopback_resolvers_fall_back_to_public_ones(tmp_path):
    host = tmp_path / "resolv.conf"
    host.write_text("nameserver 127.0.0.53\noptions edns0\n")
    assert resolv_conf(host_file=str(host)) == (
        "options edns0\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n")


def test_search_domains_replace_the_hosts(tmp_path):
    host = tmp_path / "resolv.conf"
    host.write_text("nameserver 192.0.2.53\nsearch corp.example\n")
    text = resolv_conf(search=["a.example", "b.example"], host_file=str(host))
    assert text == "nameserver 192.0.2.53\nsearch a.example b.example\n"
