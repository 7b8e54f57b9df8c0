"""pybox.images: pulling, storing, unpacking and mounting container images.

Kept import-free; entry points: pybox.images.store.Store, pybox.images.config.to_runtime_spec,
pybox.images.busybox.import_busybox, and pybox.images.cli.main for the commands.
"""
