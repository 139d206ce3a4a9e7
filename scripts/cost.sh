#!/bin/sh
# Regenerates the tables of COST.md: one training step of LeNet-5 (batch 64),
# ResNet-20 (batch 128) and BERT-small (batch 32) priced by `mirage cost` on
# every Mirage preset against both systolic baselines, then the headline
# scenarios. Usage: scripts/cost.sh > /tmp/cost-tables.md
set -eu
cd "$(dirname "$0")/.."
go build -o /tmp/mirage-cost ./cmd/mirage
m=/tmp/mirage-cost
row() { # model batch hw baseline iso [params]
	extra=""
	[ -n "${6:-}" ] && extra="--params $6"
	$m cost --model "$1" --batch-size "$2" --hw "$3" --baseline "$4" --iso "$5" $extra --json |
		python3 -c '
import json, sys
d = json.load(sys.stdin)
a, b = d["accelerator"], d["baseline"]
g, t = d["gemm_ratios"], d["total_ratios"]
print("| %s | %d | %s | %s (%d) | %s | %.3g µs | %.3g mJ | %.3g W | %.3g µs | %.3g mJ | %.3g W | %.3gx | %.3gx | %.3gx | %.3gx |" % (
  d["model"], d["batch"], a["hardware"], b["hardware"], b["arrays"], d["iso"],
  a["gemm"]["seconds"]*1e6, a["gemm"]["joules"]*1e3, a["gemm"]["joules"]/a["gemm"]["seconds"],
  b["gemm"]["seconds"]*1e6, b["gemm"]["joules"]*1e3, b["gemm"]["joules"]/b["gemm"]["seconds"],
  g["speedup"], g["energy"], g["edp"], g["power"]))'
}
header() {
	echo "| model | batch | accelerator | baseline (arrays) | iso | acc time | acc energy | acc power | base time | base energy | base power | speedup | energy ratio | EDP ratio | power ratio |"
	echo "|---|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
}
echo "### GEMMs of one training step, each design at its preset size"
echo
header
for mb in "lenet 64" "resnet20 128" "bert 32"; do
	set -- $mb
	for hw in mirage-isca24 mirage-pessimistic mirage-converter-refs; do
		for base in systolic-bf16-128x128 systolic-int8-256x256; do
			row "$1" "$2" "$hw" "$base" none
		done
	done
done
echo
echo "### The same, baseline scaled to iso-energy (equal GEMM power) and iso-area"
echo
header
for mb in "lenet 64" "resnet20 128" "bert 32"; do
	set -- $mb
	for iso in energy area; do
		row "$1" "$2" mirage-isca24 systolic-bf16-128x128 "$iso"
	done
done
echo
echo "### Scenarios for the headline numbers (ResNet-20, batch 128, vs systolic-bf16-128x128)"
echo
header
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$m cost --show-preset mirage-isca24 > "$tmp/base.yaml"
# Phase shifters in series, one per tile element (phase addition along a waveguide).
sed -e 's/^name: .*/name: series-phase-shifters/' -e 's/phase_shifters_in_path: 1/phase_shifters_in_path: 0/' \
    -e 's/phase_shifters_per_tile_element: 0/phase_shifters_per_tile_element: 1/' "$tmp/base.yaml" > "$tmp/series.yaml"
row resnet20 128 x systolic-bf16-128x128 none "$tmp/series.yaml"
# Operands stored as 8-bit BFP mantissas (1 byte) instead of FP32 in memory.
sed -e 's/^name: .*/name: bfp-in-memory/' -e 's/^  operand_bytes: 4 .*/  operand_bytes: 1/' "$tmp/base.yaml" > "$tmp/bfpmem.yaml"
row resnet20 128 x systolic-bf16-128x128 none "$tmp/bfpmem.yaml"
# ... and no DRAM traffic counted on either side (on-chip working set).
sed -e 's/^name: .*/name: bfp-in-memory-no-dram/' -e 's/^  dram_pj_per_byte: .*/  dram_pj_per_byte: 0/' "$tmp/bfpmem.yaml" > "$tmp/nodram.yaml"
$m cost --show-preset systolic-bf16-128x128 | sed -e 's/^name: .*/name: systolic-bf16-no-dram/' -e 's/^  dram_pj_per_byte: .*/  dram_pj_per_byte: 0/' > "$tmp/sysnodram.yaml"
# ... and a Mirage array 76 times the area of a systolic one (5320 mm²), so
# that iso-area gives the baseline many arrays.
sed -e 's/^name: .*/name: no-dram-large-area/' -e 's/^  area_mm2_per_array: .*/  area_mm2_per_array: 5320/' "$tmp/nodram.yaml" > "$tmp/large.yaml"
for p in nodram large; do for iso in none energy area; do
	[ $p = large ] && [ $iso != area ] && continue
	$m cost --model resnet20 --batch-size 128 --params "$tmp/$p.yaml" --baseline-params "$tmp/sysnodram.yaml" --iso $iso --json |
		python3 -c '
import json, sys
d = json.load(sys.stdin)
a, b = d["accelerator"], d["baseline"]
g = d["gemm_ratios"]
print("| %s | %d | %s | %s (%d) | %s | %.3g µs | %.3g mJ | %.3g W | %.3g µs | %.3g mJ | %.3g W | %.3gx | %.3gx | %.3gx | %.3gx |" % (
  d["model"], d["batch"], a["hardware"], b["hardware"], b["arrays"], d["iso"],
  a["gemm"]["seconds"]*1e6, a["gemm"]["joules"]*1e3, a["gemm"]["joules"]/a["gemm"]["seconds"],
  b["gemm"]["seconds"]*1e6, b["gemm"]["joules"]*1e3, b["gemm"]["joules"]/b["gemm"]["seconds"],
  g["speedup"], g["energy"], g["edp"], g["power"]))'
done; done
