"""200 detached containers on one bridge: distinct addresses, a small monitor each, all removed."""

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor

from tests.engine.frontend import docker, storage  # noqa: F401 (fixtures)
from tests.netns.fakehost import FakeHost, sh

COUNT = 200
WORKERS = 4


def bridge_ports():
    return sh("ip", "-o", "link", "show", "master", "pybox0", check=False).stdout.count("\n")


def pss_kib(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Pss:"))


def test_200_containers_on_one_bridge(docker, tmp_path):
    with FakeHost(tmp_path) as host:
        def run(i):
            return subprocess.run(docker.argv("run", "-d", "--name", f"s{i}", "busybox", "sleep", "600"),
                                  env=docker.env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        with ThreadPoolExecutor(WORKERS) as pool:
            results = list(pool.map(run, range(COUNT)))
        assert [r.returncode for r in results] == [0] * COUNT, [r.stderr for r in results if r.returncode][:3]
        docs = json.loads(docker.out("inspect", *[f"s{i}" for i in range(COUNT)]))
        addresses = {d["NetworkSettings"]["IPAddress"] for d in docs}
        assert len(addresses) == COUNT and all(a.startswith("10.88.") for a in addresses)
        assert bridge_ports() == COUNT
        monitors = [int(open(f"{d['Bundle']}/conmon.pid").read()) for d in docs]
        average = sum(pss_kib(pid) for pid in monitors) / COUNT
        print(f"\n{COUNT} idle containers: conmon PSS {average:.0f} KiB each on average")
        assert average < 2048
        docker("rm", "-f", *[f"s{i}" for i in range(COUNT)], timeout=300)
        assert bridge_ports() == 0
        assert "10.88." not in sh("ip", "-4", "-o", "addr").stdout.replace("10.88.0.1", "")
    assert not host.left_behind()
