"""Numbers that are not card numbers: random 64-bit integers, barcodes, floats, ids."""

import numpy as np

# Expected output of the generator for seed 12345 (int64, 19 digits).
DESIRED = np.array(
    [
        [5707374374421908479, 5456764827585442327],
        [8196659375100692377, 8224063923314595285],
        [4220315081820346526, 7177518203184491332],
    ],
    dtype=np.int64,
)
# Product barcodes (EAN-13) of a German catalogue.
EANS = ["4001092815905", "4080729022275", "4031672326866", "4006381333931"]
GTIN_14 = "10614141000415"
# Floats printed with 17 significant digits.
WEIGHTS = [0.4563551505877061, 0.4589481131144027, 1.4954255503491068e-05]
SNOWFLAKES = [1785402916358574080, 1785402916358574081]
TRACKING = "1Z999AA10123456784"
ORDER_IDS = ["ORD-4563551505877061", "order_4589481131144027"]
