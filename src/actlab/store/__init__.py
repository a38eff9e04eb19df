"""actlab.store"""
