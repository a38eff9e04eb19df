"""actlab.data"""
