"""actlab.plots"""
