"""pybox.cgroups"""
