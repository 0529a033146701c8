"""teacher_torch.py — the RefCLIP teacher's training step at the reference size, restated in PyTorch
from DESIGN.md §3 (language encoder, multi-scale fusion, anchor selection, anchor-contrastive loss,
global-norm clipping at 0.15, Adam), on random inputs shaped like refclip-bench's. It is the system a
user would pick instead of refclip; `make bench-peer` times the two in one interleaved run.

Prints one JSON line: {"system", "threads", "batch", "samples_per_s", "torch", "blas", "peak_rss_bytes"}.
"""

import argparse
import json
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB, WORDS, HIDDEN, HEADS, FFN, LAYERS, TOKENS, DROPOUT = 10000, 300, 512, 8, 2048, 3, 15, 0.1
C52, C26, C13, FUSION, SELECTED = 256, 512, 1024, 1024, 17


class LayerNorm(nn.Module):
    """w·(x − mean)/(std + 1e-6) + b with the unbiased std, as the reference."""

    def __init__(self, d):
        super().__init__()
        self.w, self.b = nn.Parameter(torch.ones(d)), nn.Parameter(torch.zeros(d))

    def forward(self, x):
        return self.w * (x - x.mean(-1, keepdim=True)) / (x.std(-1, keepdim=True) + 1e-6) + self.b


class SelfAttention(nn.Module):
    """Post-norm block: y = LN(y + Drop(MHA(y))), y = LN(y + Drop(FFN(y))); padded keys masked with −1e9."""

    def __init__(self):
        super().__init__()
        self.q, self.k, self.v, self.merge = (nn.Linear(HIDDEN, HIDDEN) for _ in range(4))
        self.ffn = nn.Sequential(nn.Linear(HIDDEN, FFN), nn.ReLU(), nn.Dropout(DROPOUT), nn.Linear(FFN, HIDDEN))
        self.norm1, self.norm2 = LayerNorm(HIDDEN), LayerNorm(HIDDEN)
        self.drop1, self.drop2, self.attention_drop = nn.Dropout(DROPOUT), nn.Dropout(DROPOUT), nn.Dropout(DROPOUT)

    def forward(self, y, pad):
        b, t, _ = y.shape
        split = lambda z: z.view(b, t, HEADS, HIDDEN // HEADS).transpose(1, 2)
        q, k, v = split(self.q(y)), split(self.k(y)), split(self.v(y))
        scores = (q @ k.transpose(-1, -2)) / (HIDDEN // HEADS) ** 0.5
        scores = scores.masked_fill(pad[:, None, None, :], -1e9)
        attended = (self.attention_drop(scores.softmax(-1)) @ v).transpose(1, 2).reshape(b, t, HIDDEN)
        y = self.norm1(y + self.drop1(self.merge(attended)))
        return self.norm2(y + self.drop2(self.ffn(y)))


class LanguageEncoder(nn.Module):
    """Frozen word vectors → GRU → self-attention layers → AttFlat sentence vector."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, WORDS)
        self.embedding.weight.requires_grad_(False)
        self.gru = nn.GRU(WORDS, HIDDEN, batch_first=True)
        self.layers = nn.ModuleList(SelfAttention() for _ in range(LAYERS))
        self.scores = nn.Sequential(nn.Linear(HIDDEN, HIDDEN // 2), nn.ReLU(), nn.Dropout(DROPOUT), nn.Linear(HIDDEN // 2, 1))
        self.merge = nn.Linear(HIDDEN, HIDDEN)

    def forward(self, ids):
        pad = ids == 0
        y, _ = self.gru(self.embedding(ids))
        for layer in self.layers:
            y = layer(y, pad)
        weights = self.scores(y).squeeze(-1).masked_fill(pad, -1e9).softmax(-1)
        return self.merge((weights[..., None] * y).sum(1))


def conv(cin, cout, k):
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.1))


class Fusion(nn.Module):
    """The multi-scale fusion's used path: up, up, down, down, then the top projection (DESIGN.md §3)."""

    def __init__(self):
        super().__init__()
        half = FUSION // 2
        m, l = half + C26, half + C52
        self.up_top = nn.Sequential(nn.Upsample(scale_factor=2), conv(C13, half, 1), conv(half, half, 3))
        self.up_middle = nn.Sequential(nn.Upsample(scale_factor=2), conv(m, half, 1), conv(half, half, 3))
        self.down_large = nn.Sequential(nn.AvgPool2d(2), conv(l, half, 1), conv(half, half, 3))
        self.down_middle = nn.Sequential(nn.AvgPool2d(2), conv(half + m, half, 1), conv(half, half, 3))
        self.top = conv(half + C13, FUSION, 1)

    def forward(self, f52, f26, f13):
        m = torch.cat([self.up_top(f13), f26], 1)
        l = torch.cat([self.up_middle(m), f52], 1)
        m2 = torch.cat([self.down_large(l), m], 1)
        s2 = torch.cat([self.down_middle(m2), f13], 1)
        return self.top(s2)


class Teacher(nn.Module):
    def __init__(self):
        super().__init__()
        self.language, self.fusion = LanguageEncoder(), Fusion()
        self.linear_vs, self.linear_ts = nn.Linear(FUSION, HIDDEN), nn.Linear(HIDDEN, HIDDEN)

    def forward(self, f52, f26, f13, boxes, ids):
        text = self.linear_ts(self.language(ids))                                   # [B, D]
        fused = self.fusion(f52, f26, f13).flatten(2).transpose(1, 2)               # [B, 169, C]
        cells = boxes[..., 4].mean(-1).topk(SELECTED, dim=1).indices.sort(1).values  # most object-like, ascending
        anchors = self.linear_vs(fused.gather(1, cells[..., None].expand(-1, -1, fused.shape[-1])))  # [B, K, D]
        return anchors, text


def contrastive_loss(anchors, text):
    """Positive: the best anchor of the paired image; negatives: the best two of every other image."""
    b = text.shape[0]
    sim = torch.einsum("td,asd->tas", text, anchors)
    top = sim.topk(2, dim=-1).values                                                # [T, A, 2]
    others = ~torch.eye(b, dtype=torch.bool)
    logits = torch.cat([top[..., 0], top[..., 1][others].view(b, b - 1)], 1)      # [T, 2B − 1]
    return F.cross_entropy(logits, torch.arange(b))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=0, help="timed steps after one warm-up (0: at least 24 samples, at least 2)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    b = args.batch
    model = Teacher().train()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4, betas=(0.9, 0.98), eps=1e-9)
    f52, f26, f13 = torch.randn(b, C52, 52, 52), torch.randn(b, C26, 26, 26), torch.randn(b, C13, 13, 13)
    boxes = torch.rand(b, 169, 4, 5) * torch.tensor([416.0, 416, 416, 416, 1])
    ids = torch.randint(3, VOCAB, (b, TOKENS))
    ids[:, 8:] = 0

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = contrastive_loss(*model(f52, f26, f13, boxes, ids))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.15)
        optimizer.step()

    steps = args.steps or max(2, 24 // b)
    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    rate = steps * b / (time.perf_counter() - start)
    # torch's build summary holds "Build settings: BLAS_INFO=mkl, BUILD_TYPE=…" among other lines.
    settings = dict(item.split(":")[-1].strip().split("=", 1) for item in torch.__config__.show().replace("\n", ",").split(",") if "=" in item)
    blas = f"{settings.get('BLAS_INFO', 'unknown')} BLAS, oneDNN {'on' if torch.backends.mkldnn.is_available() else 'off'}, " \
           f"CPU capability {torch.backends.cpu.get_cpu_capability()}"
    print(json.dumps({"system": "pytorch", "threads": args.threads, "batch": b, "samples_per_s": rate,
                      "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
                      "torch": torch.__version__, "blas": blas,
                      "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


if __name__ == "__main__":
    main()
