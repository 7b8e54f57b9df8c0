"""pybox.seccomp"""
