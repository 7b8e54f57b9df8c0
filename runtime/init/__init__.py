"""The container init: the steps that run inside the new namespaces before exec."""
