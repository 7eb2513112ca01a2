"""Data sets generated in memory from a seed (no download): the Yin-Yang and random-manifold tasks.

Pure generation (NumPy/torch, no Lightning); :mod:`lif.data` wraps them as data modules.
"""
