"""Imports every experiment module so that each registers itself."""
from . import fc_mnist  # noqa: F401
from . import cnn_mnist  # noqa: F401
from . import lstm_warpeace  # noqa: F401
from . import ctf  # noqa: F401
