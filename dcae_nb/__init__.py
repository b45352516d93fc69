__version__ = "0.1.0"
# The floors above the model extend it: `DCAE.from_pretrained` / `save_pretrained` come from `checkpoints` (04),
# `tiled_encode` / `tiled_decode` from `tiling` (05). Importing them here gives every DCAE its whole API, whichever
# module a user imports first; `autoencoder` itself imports neither (no circle).
from . import checkpoints as _checkpoints, tiling as _tiling
