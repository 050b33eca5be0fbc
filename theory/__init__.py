"""phasemix.theory"""
