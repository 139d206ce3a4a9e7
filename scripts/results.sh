#!/bin/sh
# Regenerates RESULTS.md from the experiments under results/, training
# whatever is missing first.
#
#   scripts/results.sh                # from the repository root
#   scripts/results.sh --report-only  # train nothing: rebuild RESULTS.md
#                                     # from what results/ holds now
#
# Full-length parity (the recipe's epochs on the full data sets, every arm
# of a comparison from the same initial weights with the same data order).
# Every arm names its settings ($rns7 and $bfp7 are rns's and bfp's
# defaults; $rns6, $rrns6 and $bfp6 the 6-bit configuration that was the
# default until December 2026), so that no label depends on the defaults:
#   - LeNet-5 on MNIST, seeds 1-3 x {fp32, rns, bfp, the three 6-bit arms,
#     6-bit rns with stochastic rounding}              (minutes)
#   - short sweeps choosing the narrowest analog ADC width that trains, for
#     ResNet-20 and BERT (sweeps/adc-*.yaml; an estimate from the short
#     comparisons' analog arms, 384 s and 885 s a run in results/*-parity:
#     about 1 hour and 1.3 hours)
#   - ResNet-20 on CIFAR-10, 20 epochs: fp32, rns, bfp, the three 6-bit
#     arms, 6-bit rns with stochastic rounding, analog at 6 bits, analog at
#     the narrowest width
#                                                      (many hours)
#   - BERT-small on IMDB, 25k/25k, 2 epochs: fp32, rns, bfp, rns at sigma
#     0.12, the 6-bit rns arm, 6-bit rns with stochastic rounding, analog at
#     the narrowest width; and a second seed of fp32 and rns, for the
#     seed-to-seed spread of a BERT run                (many hours)
# and the older short runs and sweeps, which RESULTS.md keeps as short runs.
#
# Every step resumes: a comparison whose arms have all finished (each arm's
# summary.json is in results/) is skipped, a sweep reuses its finished rows,
# and an interrupted arm or row continues from its saved state (written
# every --checkpoint-every steps). So in a clone with every result committed
# the plain script trains nothing and only rebuilds RESULTS.md; after an
# interruption the same command continues where it stopped.
#
# The narrowest ADC width is never written here: it is read from the
# finished short sweep by `mirage results --narrowest-adc DIR` (rule in
# RESULTS.md and experiment.WidthWithin). Until that sweep has finished, the
# full-length comparisons are listed without that arm.
set -eu
cd "$(dirname "$0")/.."
# MIRAGE overrides the command (e.g. a built binary).
mirage="${MIRAGE:-go run ./cmd/mirage}"

train=yes
case "${1:-}" in
--report-only) train=no ;;
"") ;;
*)
	echo "usage: scripts/results.sh [--report-only]" >&2
	exit 2
	;;
esac

# finished DIR BACKENDS: true when every arm of the comparison has a
# summary.json (arm directories are named by the arm, its colons turned
# into underscores; the lists here hold no commas inside an arm).
finished() {
	for arm in $(echo "$2" | tr ',' ' '); do
		[ -f "$1/$(echo "$arm" | tr ':' '_')/summary.json" ] || return 1
	done
}

# full ARGS...: a full-length comparison, `mirage compare ARGS` (which
# must include --backends and --out). It is trained unless all its arms have
# finished (the committed results keep no weights, without which compare
# would rewrite its report without the probe at the trained weights, so a
# finished one is left as it is), and recorded for
# `mirage results --full`. With procs set, it trains with GOMAXPROCS=$procs:
# the core count decides the order of some FP32 sums, so a committed run is
# reproduced bit for bit only with the count it had (its summary.json's
# gomaxprocs).
fulls=
procs=
full() {
	dir= backends=
	prev=
	for a in "$@"; do
		case $prev in
		--out) dir=$a ;;
		--backends) backends=$a ;;
		esac
		prev=$a
	done
	if [ "$train" = yes ]; then
		if finished "$dir" "$backends"; then
			echo "results.sh: every arm of $dir has finished, keeping it"
		elif [ -n "$procs" ]; then
			GOMAXPROCS=$procs $mirage compare "$@"
		else
			$mirage compare "$@"
		fi
	fi
	# Newline-separated; the arguments hold no white space.
	fulls="${fulls}mirage compare $*
"
}

# narrowest SWEEP: the ADC width the width rule chooses from a finished
# short sweep, or nothing when it cannot choose yet.
narrowest() {
	$mirage results --narrowest-adc "$1" 2>/dev/null || true
}

# analog ARMS WIDTH: the analog arms of a full-length comparison: at the
# RNS converter width (6 bits) when asked, and at the chosen width unless
# none is chosen yet or it is that same width.
analog_arms() {
	arms=
	[ "$1" = with6 ] && arms=",analog:adc-bits=6"
	if [ -n "$2" ] && { [ "$1" != with6 ] || [ "$2" != 6 ]; }; then
		arms="$arms,analog:adc-bits=$2"
	fi
	echo "$arms"
}

rns7=rns:bfp-bits=7:rns-moduli=special-k7:rrns-redundant=2
bfp7=bfp:bfp-bits=7
rns6=rns:bfp-bits=6:rns-moduli=special-k6:rrns-redundant=0
rrns6=rns:bfp-bits=6:rns-moduli=special-k6:rrns-redundant=2
bfp6=bfp:bfp-bits=6
# 6-bit BFP with stochastic rounding went through ResNet-20's learning-rate
# peak in a diagnostic run, found after the defaults had been chosen: a
# configuration with 6-bit converters, tested at full length on all three
# models.
sr6=rns:bfp-bits=6:rns-moduli=special-k6:rounding=stochastic:rrns-redundant=2

for seed in 1 2 3; do
	full --model lenet --dataset mnist --backends "fp32,$rns7,$bfp7,$rns6,$rrns6,$bfp6,$sr6" --seed $seed \
		--out results/lenet-mnist-seed$seed --no-progress
done

if [ "$train" = yes ]; then
	$mirage sweep --spec sweeps/adc-resnet20.yaml --out results/sweep-adc-resnet20 --checkpoint-every 100
	# Run with one core per row (as Slurm array tasks, two at a time).
	GOMAXPROCS=1 $mirage sweep --spec sweeps/adc-bert.yaml --out results/sweep-adc-bert --checkpoint-every 100
fi
w_resnet=$(narrowest results/sweep-adc-resnet20)
w_bert=$(narrowest results/sweep-adc-bert)
if [ "$train" = yes ] && { [ -z "$w_resnet" ] || [ -z "$w_bert" ]; }; then
	echo "results.sh: a width sweep chose no ADC width:" >&2
	$mirage results --narrowest-adc results/sweep-adc-resnet20 >/dev/null || true
	$mirage results --narrowest-adc results/sweep-adc-bert >/dev/null || true
	echo "results.sh: the full-length comparisons train without that arm" >&2
fi

# The 6-bit arms of ResNet-20 collapsed at the learning-rate peak, which is
# why rns's defaults changed (package rns, "Defaults, and why").
full --model resnet20 --dataset cifar10 --backends "fp32,$rns7,$bfp7,$rns6,$rrns6,$bfp6,$sr6$(analog_arms with6 "$w_resnet")" \
	--checkpoint-every 100 --out results/resnet20-cifar10-full --no-progress
full --model bert --dataset imdb --backends "fp32,$rns7,$bfp7,rns:bfp-bits=7:noise-sigma=0.12:rns-moduli=special-k7:rrns-redundant=2,$rns6,$sr6$(analog_arms no6 "$w_bert")" \
	--checkpoint-every 100 --out results/bert-imdb-full --no-progress
# rns at the defaults ended 0.54 points below FP32 on BERT (seed 1): a second
# seed says how far two BERT runs differ by chance. Its arms ran at once, one
# core each (Slurm array tasks): GOMAXPROCS 1.
procs=1
full --model bert --dataset imdb --backends "fp32,$rns7" --seed 2 \
	--checkpoint-every 100 --out results/bert-imdb-full-seed2 --no-progress
procs=

# The short runs, kept as they are: a directory with a report is reused.
backends=fp32,rns,bfp,analog
compare() {
	dir=$1
	shift
	if [ -f "$dir/report.json" ]; then
		echo "results.sh: $dir is finished, keeping it"
		return
	fi
	$mirage compare --backends $backends --out "$dir" --no-progress "$@"
}
if [ "$train" = yes ]; then
	compare results/lenet-mnist --model lenet --dataset mnist --epochs 2
	compare results/resnet20-cifar10-parity --model resnet20 --dataset cifar10 --epochs 2 \
		--train-limit 10000 --test-limit 5000
	compare results/bert-imdb-parity --model bert --dataset imdb --epochs 1 --batch-size 16 \
		--train-limit 10000 --test-limit 2000
	$mirage sweep --spec sweeps/rns-bits.yaml --out results/sweep-rns-bits
	$mirage sweep --spec sweeps/noise.yaml --out results/sweep-noise
fi

# One --full per full-length comparison, in the order above.
set --
while IFS= read -r line; do
	[ -n "$line" ] && set -- "$@" --full "$line"
done <<EOT
$fulls
EOT
$mirage results "$@" \
	--width-sweep results/sweep-adc-resnet20,results/sweep-adc-bert \
	--compare results/lenet-mnist,results/resnet20-cifar10-parity,results/bert-imdb-parity \
	--sweep results/sweep-rns-bits,results/sweep-noise --out RESULTS.md
