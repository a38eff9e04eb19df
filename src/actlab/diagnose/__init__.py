"""actlab.diagnose"""
