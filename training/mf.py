"""The mf recall channel's model: implicit-feedback ALS item factors (core/recall/channels/mf.py).

Fitted with the `implicit` library on the training rows' users x items matrix, weighted as
the tuned ALS baseline weighs it (1 for a positive, `impression_weight` for an impression
without one); its hyper-parameters are the baseline's, tuned on the validation split before
the cutoff (training/baselines.py), so the channel is exactly that baseline, served. Only the
item factors are kept: the recall service solves each user's vector from the fresh state.
"""
from __future__ import annotations

import numpy as np

from core.recall.channels.mf import MFModel
from training import baselines

# When no tuned values are given (a tuning run chooses them; these were chosen on both the
# synthetic world and KuaiRand, with factors 32 and 64).
DEFAULT_PARAMS = {"factors": 64, "regularization": 0.1, "alpha": 10.0, "impression_weight": 0.2}


def fit(rows: baselines.Interactions, params: dict | None = None, seed: int = 7) -> MFModel:
    """ALS on `rows` (every row before the cutoff) with `params` (baselines' implicit_als keys)."""
    p = {**DEFAULT_PARAMS, **(params or {})}
    model = baselines.fit_als(rows, int(p["factors"]), float(p["regularization"]), float(p["alpha"]),
                              float(p["impression_weight"]), seed)
    return MFModel.build(np.asarray(model.item_factors), p["alpha"], p["regularization"], p["impression_weight"])
