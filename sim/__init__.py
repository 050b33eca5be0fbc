"""phasemix.sim"""
