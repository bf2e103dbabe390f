"""Signal generation: sine tables and large sample counts."""

import numpy as np

SAMPLES = 741383400
SEED = 247498967
table = np.sin(np.linspace(0, 2 * np.pi, 628276792 % 1024))
phase = np.sin(2 * np.pi * 440 / 48000) * 741383400
