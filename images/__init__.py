"""pybox.images"""
