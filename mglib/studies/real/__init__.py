"""Chapter 05: the real MMA-52 annotations, their statistics and detectors that never look at a video.

``config`` maps the notebook's parameters to the settings; ``data`` computes statistics from the CSVs, ``blind`` fits
and scores the blind detectors and oracles, ``report`` turns both into the chapter's tables, figures and sentences.
"""
from mglib.studies.real import blind, data, report
from mglib.studies.real.config import RealConfig, config

__all__ = ["RealConfig", "blind", "config", "data", "report"]
