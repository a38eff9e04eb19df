"""actlab.compare"""
