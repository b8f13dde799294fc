"""Elementwise kernels NumPy lacks. Plain NumPy covers the rest of the CPU's elementwise work."""
from scipy.special import erf  # noqa: F401  (vectorised C, no compile step)
