"""pybox: an OCI container runtime in Python.

Kept import-free on purpose: every container start imports this package.
"""

__version__ = "0.1.0"
OCI_VERSION = "1.2.0"
