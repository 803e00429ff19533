"""Experiment entrypoints, run as ``python -m experiments.<name>`` or through ``ray job submit``."""
