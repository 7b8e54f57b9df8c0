"""pybox.netns"""
