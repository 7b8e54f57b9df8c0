"""pybox: an OCI container runtime in Python.

Kept nearly import-free on purpose: every container start imports this package.
"""

import os as _os

__version__ = "0.1.0"
OCI_VERSION = "1.2.0"

# Installed, the subpackages (engine, runtime, cgroups, netns, images, seccomp) sit inside this folder.
# In a source checkout they are the top-level folders beside it (pyproject.toml maps them), so
# let imports from the checkout itself (the tests) find them there too.
_here = _os.path.dirname(__file__)
_checkout = _os.path.dirname(_here)
if not _os.path.isdir(_os.path.join(_here, "runtime")) and _os.path.isfile(_os.path.join(_checkout, "pyproject.toml")):
    __path__.append(_checkout)
