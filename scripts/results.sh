#!/bin/sh
# Regenerates RESULTS.md: trains every run it reports (LeNet-5, ResNet-20 and
# BERT-small on each backend at equal epochs; the converter-width and noise
# sweeps) and gathers them with `mirage results`. Every step resumes: a run
# whose files are complete in results/ is reused, so after an interruption
# the same command continues where it stopped. From scratch it took about
# 80 minutes of training on this project's 2-core machine (BERT about 40,
# ResNet-20 about 17, the sweeps about 18, LeNet about 3).
#
#   scripts/results.sh            # from the repository root
set -eu
cd "$(dirname "$0")/.."
mirage="go run ./cmd/mirage"
backends=fp32,rns,bfp,analog

# compare DIR ARGS...: run `mirage compare` unless DIR already holds a
# finished report. The committed results/ keep no weights files, which a
# comparison needs to rebuild its report, so finished ones are left as they
# are; delete a directory to redo it.
compare() {
	dir=$1
	shift
	if [ -f "$dir/report.json" ]; then
		echo "results.sh: $dir is finished, keeping it"
		return
	fi
	$mirage compare --backends $backends --out "$dir" --no-progress "$@"
}

compare results/lenet-mnist --model lenet --dataset mnist --epochs 2
compare results/resnet20-cifar10-parity --model resnet20 --dataset cifar10 --epochs 2 \
	--train-limit 10000 --test-limit 5000
compare results/bert-imdb-parity --model bert --dataset imdb --epochs 1 --batch-size 16 \
	--train-limit 10000 --test-limit 2000
$mirage sweep --spec sweeps/rns-bits.yaml --out results/sweep-rns-bits
$mirage sweep --spec sweeps/noise.yaml --out results/sweep-noise

$mirage results \
	--compare results/lenet-mnist,results/resnet20-cifar10-parity,results/bert-imdb-parity \
	--sweep results/sweep-rns-bits,results/sweep-noise --out RESULTS.md
