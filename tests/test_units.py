"""pybox.units: the one size parser (docker run --memory, pybox update, the image store's
settings) and the one cpuset-list parser (config validation, the init's affinity and
mempolicy, cgroup stats). Each case pins what one of those callers relied on."""

import pytest

from pybox.units import cpu_list, parse_size


@pytest.mark.parametrize("text, size", [
    ("100", 100), ("4096", 4096), ("256m", 256 << 20), ("1g", 1 << 30), ("1G", 1 << 30),
    ("512KiB", 512 << 10), ("2mb", 2 << 20), ("64MB", 64 << 20), ("1.5k", 1536), ("10M", 10 << 20),
    ("2 mb", 2 << 20), ("1p", 1 << 50), ("1t", 1 << 40), ("0", 0), (" 3k\n", 3072),
])
def test_sizes_in_docker_and_runc_forms(text, size):
    # go-units RAMInBytes, which docker run --memory and runc update both use: 1024-based.
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "abc", "1x", "-5", "-1m", "1bb", "12q", "ib", "1i", "m", "1kk", "1.",
                                  ".5", "lots"])
def test_bad_sizes_are_value_errors(text):
    with pytest.raises(ValueError):
        parse_size(text)


@pytest.mark.parametrize("text, cpus", [
    ("0-2,5", [0, 1, 2, 5]), ("7", [7]), ("3-3", [3]), ("5,0-1", [0, 1, 5]), ("0-1,1-2", [0, 1, 2]),
    ("0-3\n", [0, 1, 2, 3]), (" 1 , 2 ", [1, 2]),
    ("", []), ("\n", []),  # an empty cpuset.mems file is the empty set, not an error
])
def test_cpu_lists(text, cpus):
    assert cpu_list(text) == cpus


@pytest.mark.parametrize("text", ["a", "3-", "-3", "1,,2", "1-b", "0-2,", "1.5"])
def test_bad_cpu_lists_are_value_errors(text):
    with pytest.raises(ValueError):
        cpu_list(text)
