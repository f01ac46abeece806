"""Session 11: pooled features of 32 dev CUB images (batch 4) with whichever zsl_desktop is on PYTHONPATH, saved
to OUT.npy: run once with an old tree (git archive 3eb6594^ zsl_desktop | tar -x -C OLD; PYTHONPATH=OLD) and once
with today's, then compare the two arrays. usage: features_of_32.py OUT.npy"""

import sys
from pathlib import Path
import numpy as np
import torch
from zsl_desktop.engine.data import load_dataset
from zsl_desktop.engine.extraction import extract_images

torch.set_num_threads(1)
ds = load_dataset(Path("/work/shared/zsl_data/CUB_200_2011"))
rows = np.random.default_rng(0).choice(ds.num_samples, 32, replace=False)
_, p, err = extract_images([ds.image_path(int(i)) for i in rows], device="cpu", batch_size=4)
np.save(sys.argv[1], p)
print("saved", p.shape, len(err))
