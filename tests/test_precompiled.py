"""pybox/precompiled.py: modules served from one file, and never a stale one."""

import os
import sys

import pytest

from pybox import precompiled


@pytest.fixture
def package(tmp_path):
    """site/pkgx: a package with a submodule, built into pkgx/precompiled.bin."""
    root = tmp_path / "pkgx"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("NAME = 'pkgx'\n")
    (root / "sub" / "__init__.py").write_text("")
    (root / "sub" / "mod.py").write_text("VALUE = 1\n")
    precompiled.write(str(root))
    sys.path.insert(0, str(tmp_path))
    before = list(sys.meta_path)
    yield root
    sys.meta_path[:] = before
    sys.path.remove(str(tmp_path))
    for name in [m for m in sys.modules if m == "pkgx" or m.startswith("pkgx.")]:
        del sys.modules[name]


def test_modules_come_from_the_file_with_their_real_paths(package):
    assert precompiled.install(str(package))
    import pkgx.sub.mod
    assert pkgx.sub.mod.VALUE == 1
    assert type(pkgx.sub.mod.__spec__.loader).__name__ == "_Loader"
    assert pkgx.sub.mod.__file__ == str(package / "sub" / "mod.py")
    assert pkgx.sub.__path__ == [str(package / "sub")]


def test_a_changed_source_is_loaded_from_the_source(package):
    (package / "sub" / "mod.py").write_text("VALUE = 22  # edited after the build\n")
    assert precompiled.install(str(package))
    import pkgx.sub.mod
    assert pkgx.sub.mod.VALUE == 22


def test_no_file_means_plain_imports(tmp_path):
    assert not precompiled.install(str(tmp_path))


def test_the_installed_launcher_uses_it():
    import re
    import subprocess
    launcher = "/usr/local/bin/pybox"
    if not os.path.exists(launcher):
        pytest.skip("pybox is not installed")
    with open(launcher) as f:
        text = f.read()
    python = text.splitlines()[0][2:].split()[0]
    site = re.search(r'sys.path.append\("([^"]+)"\)', text).group(1)
    assert os.path.exists(os.path.join(site, "pybox", precompiled.FILE))
    code = (f"import sys; sys.path.append({site!r}); from pybox.precompiled import install; "
            "install(); import pybox.runtime.container as c; print(type(c.__spec__.loader).__name__)")
    out = subprocess.run([python, "-IS", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "_Loader"
