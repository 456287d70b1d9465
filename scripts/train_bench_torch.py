#!/usr/bin/python3
"""The authors' ProbeX module and training loop in PyTorch (docs/method.md; Debian's python3-torch), timed
per epoch on synthetic layers of a given shape: the peer of probex-train-bench (scripts/train-bench.sh runs
both). Optional: exits 77 with a message where torch is missing.

    scripts/train_bench_torch.py --models 300 --rows 128 --cols 784 --labels 10 --threads 1 --epochs 3
"""
import argparse
import resource
import sys
import time

try:
    import torch
    from torch import nn
except ImportError:
    print("train_bench_torch: skipped (no torch: apt-get install python3-torch)")
    sys.exit(77)


class Probex(nn.Module):
    """The authors' module: parameter names and shapes as theirs (PROBEX.md section 2)."""

    def __init__(self, d_h, d_w, r_u, r_v, r_t, d_y):
        super().__init__()
        self.probes = nn.Linear(r_u, d_w, bias=False)               # U [d_W, r_U]
        self.shared_probe_proj = nn.Linear(d_h, r_v, bias=False)    # V^T [r_V, d_H]
        self.per_probe_encoders = nn.Linear(r_u * r_v, r_t)         # M
        self.classification_head = nn.Linear(r_t, d_y)

    def forward(self, x):                                           # x [B, d_H, d_W]
        p = x @ self.probes.weight                                  # [B, d_H, r_U]
        h = torch.relu(self.shared_probe_proj.weight @ p)           # [B, r_V, r_U]
        flat = h.transpose(1, 2).reshape(x.shape[0], -1)            # probe-major
        return self.classification_head(self.per_probe_encoders(flat))


def main():
    a = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    a.add_argument("--models", type=int, default=300)
    a.add_argument("--rows", type=int, default=128)
    a.add_argument("--cols", type=int, default=784)
    a.add_argument("--labels", type=int, default=10)
    a.add_argument("--threads", type=int, default=1)
    a.add_argument("--epochs", type=int, default=3)
    args = a.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    x = torch.empty(args.models, args.rows, args.cols).uniform_(-0.1, 0.1)
    y = torch.zeros(args.models, args.labels)
    y[:, ::2] = 1.0
    model = Probex(args.rows, args.cols, 128, 128, 128, args.labels)
    # Adam with weight decay added to the gradient (not AdamW), lr 1e-3, batch 128, shuffled.
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)
    loss_fn = nn.BCEWithLogitsLoss()

    def epoch():
        order = torch.randperm(args.models)
        for start in range(0, args.models, 128):
            idx = order[start:start + 128]
            opt.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()

    epoch()  # warm-up
    t = time.perf_counter()
    for _ in range(args.epochs):
        epoch()
    per_epoch = (time.perf_counter() - t) / args.epochs
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"PyTorch {torch.__version__} ({torch.get_num_threads()} thread(s)), {args.models} layers of "
          f"[{args.rows}, {args.cols}], {args.labels} labels, batch 128, Adam")
    print(f"  seconds per epoch          {per_epoch:.3f}")
    print(f"  peak RSS                   {peak:.0f} MB")


if __name__ == "__main__":
    main()
