"""phasemix.kernels"""
