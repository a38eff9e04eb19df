"""The `actlab gradients` experiments: chain, speed, propagate, dead, clip.

Each is a function that takes plain arguments, runs deterministically for a
seed, and returns a JSON-ready dict; the CLI prints, plots and saves it.
"""
