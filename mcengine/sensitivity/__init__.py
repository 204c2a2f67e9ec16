"""Sensitivity analysis beyond the streaming deciles: variance-based (Sobol') indices."""

from .sobol import SobolError, model_sobol, saltelli_scores, sobol_estimates, sobol_indices

__all__ = ["SobolError", "model_sobol", "saltelli_scores", "sobol_estimates", "sobol_indices"]
