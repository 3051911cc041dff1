"""rpusim: training deep neural networks on simulated Resistive Processing Unit (RPU) arrays."""
__version__ = "0.1.0"
