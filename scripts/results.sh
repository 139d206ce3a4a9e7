#!/bin/sh
# Regenerates RESULTS.md: trains every run it reports (LeNet-5, ResNet-20 and
# BERT-small on each backend at equal epochs; the converter-width and noise
# sweeps) and gathers them with `mirage results`. Every step resumes: a run
# whose files are complete in results/ is reused, so after an interruption
# the same command continues where it stopped. From scratch it takes about
# two hours on a 2-core machine.
#
#   scripts/results.sh            # from the repository root
set -eu
cd "$(dirname "$0")/.."
mirage="go run ./cmd/mirage"
backends=fp32,rns,bfp,analog

$mirage compare --model lenet --dataset mnist --backends $backends --epochs 2 \
	--out results/lenet-mnist --no-progress
$mirage compare --model resnet20 --dataset cifar10 --backends $backends --epochs 2 \
	--train-limit 10000 --test-limit 5000 --out results/resnet20-cifar10-parity --no-progress
$mirage compare --model bert --dataset imdb --backends $backends --epochs 1 \
	--train-limit 5000 --test-limit 2500 --out results/bert-imdb-parity --no-progress
$mirage sweep --spec sweeps/rns-bits.yaml --out results/sweep-rns-bits
$mirage sweep --spec sweeps/noise.yaml --out results/sweep-noise

$mirage results \
	--compare results/lenet-mnist,results/resnet20-cifar10-parity,results/bert-imdb-parity \
	--sweep results/sweep-rns-bits,results/sweep-noise --out RESULTS.md
