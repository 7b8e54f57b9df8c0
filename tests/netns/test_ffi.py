import os

from pybox.netns import _libnftables_build


def test_generated_libnftables_module_is_current(tmp_path):
    fresh = tmp_path / "ffi.py"
    _libnftables_build.build_ffi().emit_python_code(str(fresh))
    committed = os.path.join(os.path.dirname(_libnftables_build.__file__), "_libnftables_ffi.py")
    assert fresh.read_text() == open(committed).read(), \
        "run: python -m pybox.netns._libnftables_build"
