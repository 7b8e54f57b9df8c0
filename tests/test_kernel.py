import os

from pybox import _kernel_build


def test_generated_module_matches_its_declarations():
    committed = open(os.path.join(os.path.dirname(_kernel_build.__file__), "_kernel_ffi.py")).read()
    assert committed == _kernel_build.generate(), "run: python -m pybox._kernel_build"
