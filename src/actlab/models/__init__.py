"""actlab.models"""
