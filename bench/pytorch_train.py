#!/usr/bin/python3
"""Training speed of PyTorch on the CPU, for comparison with `mirage bench train`.

Measures the same networks mirage builds (models/lenet.go, models/resnet.go)
doing the same full training step -- forward, cross-entropy, backward, SGD
with momentum 0.9 and weight decay 5e-4 (biases and norm parameters exempt)
-- on synthetic data of the right shape, with the same thread count, warm-up
steps excluded and the median over repetitions reported.

Run it with Debian's PyTorch (apt-get install python3-torch):

    /usr/bin/python3 bench/pytorch_train.py                # LeNet b64, b128, ResNet-20 b128
    /usr/bin/python3 bench/pytorch_train.py --cases resnet20:128 --threads 2 --json
"""

import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class LeNet5(nn.Module):
    """LeNet-5 with ReLU and max-pooling, as models.NewLeNet5 (61,706 parameters)."""

    def __init__(self, channels=1, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class BasicBlock(nn.Module):
    """ResNet basic block with the option-A shortcut (subsample, zero-pad channels)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride, self.extra = stride, cout - cin

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        skip = x
        if self.stride != 1 or self.extra:
            skip = x[:, :, :: self.stride, :: self.stride]
            before = self.extra // 2
            skip = F.pad(skip, (0, 0, 0, 0, before, self.extra - before))
        return F.relu(h + skip)


class ResNet20(nn.Module):
    """He et al.'s CIFAR ResNet-20, option A, as models.NewResNet20 (269,722 parameters)."""

    def __init__(self, channels=3, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        blocks, cin = [], 16
        for stage, width in enumerate((16, 32, 64)):
            for b in range(3):
                blocks.append(BasicBlock(cin, width, 2 if stage > 0 and b == 0 else 1))
                cin = width
        self.blocks = nn.Sequential(*blocks)
        self.linear = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.blocks(x)
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


MODELS = {
    "lenet": (LeNet5, (1, 28, 28)),
    "resnet20": (ResNet20, (3, 32, 32)),
}


def measure(model_name, batch, warmup, steps, reps):
    build, shape = MODELS[model_name]
    torch.manual_seed(1)
    model = build()
    model.train()
    decay = [p for p in model.parameters() if p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.dim() <= 1]
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0}],
        lr=0.01, momentum=0.9,
    )
    x = torch.randn(batch, *shape)
    y = torch.randint(0, 10, (batch,))

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=False)
        loss.backward()
        opt.step()
        return loss

    for _ in range(warmup):
        step()
    per_rep, cpu = [], []
    for _ in range(reps):
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(steps):
            step()
        per_rep.append(batch * steps / (time.perf_counter() - start))
        cpu.append(1000 * (time.process_time() - cpu_start) / steps)  # all threads
    med = statistics.median(per_rep)
    return {"model": model_name, "batch": batch, "backend": "pytorch",
            "examples_per_sec": med, "step_ms": 1000 * batch / med,
            "cpu_ms_per_step": statistics.median(cpu), "reps": per_rep}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="lenet:64,lenet:128,resnet20:128", help="comma-separated MODEL:BATCH")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2, the machine's cores)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="print a JSON array like `mirage bench train --json`")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results = []
    for item in args.cases.split(","):
        name, _, batch = item.strip().partition(":")
        if name not in MODELS or not batch.isdigit() or int(batch) < 1:
            sys.exit(f"bad case {item!r}: want MODEL:BATCH with MODEL in {sorted(MODELS)}")
        print(f"measuring {name}/b{batch} ...", file=sys.stderr)
        results.append(measure(name, int(batch), args.warmup, args.steps, args.reps))
    if args.json:
        json.dump(results, sys.stdout)
        print()
        return
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads; median of {args.reps} repetitions "
          f"of {args.steps} steps after {args.warmup} warm-up steps")
    print(f"{'model':>10} {'batch':>6} {'examples/s':>11} {'step ms':>9} {'CPU ms/step':>12}")
    for r in results:
        print(f"{r['model']:>10} {r['batch']:>6} {r['examples_per_sec']:>11.1f} {r['step_ms']:>9.1f} {r['cpu_ms_per_step']:>12.1f}")


if __name__ == "__main__":
    main()
