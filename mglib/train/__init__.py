"""The shared training engine: configs, the Task interface, ``fit``, checkpoints and the feature cache.

Importing this package is cheap; torch is imported by the modules that need it.
"""
