#!/usr/bin/env bash
# Sets pybox up on a fresh Debian 12 machine, as root.
#   scripts/install.sh          what running containers needs
#   scripts/install.sh --test   also what the test suite and the benchmarks need
# pybox goes into a virtual environment at $PYBOX_PREFIX (default /opt/pybox), with
# /usr/local/bin/pybox pointing at it.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${PYBOX_PREFIX:-/opt/pybox}

packages=(python3 python3-venv libseccomp2 busybox-static iproute2 nftables libnftables1 conmon tini)
if [ "${1:-}" = --test ]; then
    # gcc and libc6-dev: the seccomp tests build a static raw-syscall helper
    packages+=(gcc libc6-dev runc crun runsc skopeo umoci docker-registry podman containerd
               containernetworking-plugins catatonit hyperfine tmux zsh
               qemu-system-x86 linux-image-amd64 e2fsprogs zstd
               uidmap passt slirp4netns fuse-overlayfs)
    # rootless: uidmap (newuidmap/newgidmap), passt (pasta), slirp4netns (podman 4.3's rootless
    # network, compared with pasta), fuse-overlayfs (the overlay where the kernel refuses one)
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's own python3 starts about 2 ms faster than a self-built one (PGO/LTO, static
# libpython), and every container start pays interpreter start-up.
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)
home=$(dirname "$(readlink -f "$python")")
grep -qx "home = $home" "$prefix/pyvenv.cfg" 2>/dev/null || "$python" -m venv --clear "$prefix"
extras=""
[ "${1:-}" = --test ] && extras="[test,plot]"
"$prefix/bin/pip" install -q --disable-pip-version-check ".$extras"

# pip's console script imports `re` and runs `site` (several ms on every container start):
# this launcher skips both, puts pybox's site-packages on the path itself, and loads pybox's
# modules from one precompiled file (pybox/precompiled.py; -I keeps the checkout off the path).
site=$("$prefix/bin/python3" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
"$prefix/bin/python3" -I -m pybox.precompiled >/dev/null
# Two front ends: pybox (docker-style, pybox.engine.cli) and pybox-runc (runc's command line,
# pybox.runtime.cli), which podman, containerd and CRI-O name as their runtime.
for front in "pybox pybox.engine.cli" "pybox-runc pybox.runtime.cli"; do
    name=${front% *} module=${front#* }
    cat > "$prefix/bin/$name" <<LAUNCHER
#!$prefix/bin/python3 -IS
import sys
sys.path.append("$site")
from pybox.precompiled import install
install()
from $module import run_and_exit
run_and_exit()
LAUNCHER
    chmod 755 "$prefix/bin/$name"
done
ln -sf "$prefix/bin/pybox" /usr/local/bin/pybox
ln -sf "$prefix/bin/pybox-runc" /usr/local/bin/pybox-runc

# An image that needs no registry: `busybox`, made from Debian's busybox-static.
"$prefix/bin/python3" -m pybox.images.busybox >/dev/null
