"""actlab.report"""
