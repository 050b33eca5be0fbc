"""phasemix.validate"""
