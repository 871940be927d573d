#!/usr/bin/env python3
"""exec_embed_torch.py: a real model architecture as an exec embedding
program: a small transformer encoder over the input's bytes (2 layers,
width 32, 4 heads, learned byte and position embeddings) with mean pooling
and L2 normalization, weights fixed by torch.manual_seed(1234). Reads bytes
on stdin (the first 512 are used), writes a float32 .npy vector of shape
(32,). Deterministic: one thread, deterministic algorithms, eval mode."""
import io
import sys

import numpy as np
import torch

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)
torch.manual_seed(1234)

DIM, LAYERS, HEADS, MAX_LEN = 32, 2, 4, 512


class ByteEncoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.tokens = torch.nn.Embedding(256, DIM)
        self.positions = torch.nn.Embedding(MAX_LEN, DIM)
        layer = torch.nn.TransformerEncoderLayer(DIM, HEADS, dim_feedforward=64, dropout=0.0,
                                                 batch_first=True)
        self.encoder = torch.nn.TransformerEncoder(layer, LAYERS)

    def forward(self, ids):
        pos = torch.arange(ids.shape[1]).unsqueeze(0)
        h = self.encoder(self.tokens(ids) + self.positions(pos))
        v = h.mean(dim=1)
        return torch.nn.functional.normalize(v, dim=-1)


model = ByteEncoder().eval()
data = sys.stdin.buffer.read()[:MAX_LEN] or b"\0"
ids = torch.tensor([list(data)], dtype=torch.long)
with torch.no_grad():
    vec = model(ids)[0].numpy().astype(np.float32)
buf = io.BytesIO()
np.save(buf, vec)
sys.stdout.buffer.write(buf.getvalue())
