#!/usr/bin/env bash
# SNAP barriers near the Nb- and Mo-rich corners of Nb-Mo-Ta-W: auxiliary data for the DFT
# models (`configs/dft_latcnn_linear_snap.yaml`, `docs/results_dft.md`).
#
# The shared DFT data (128-atom Nb-Mo-Ta-W-V cells) reach 81 % Nb and 81 % Mo with one
# composition each; a model that holds one of them out never sees more than 41 %. These cells
# (the same 4x4x4 size, the SNAP of Li et al. 2020, the potential the paper used; no V) span
# equimolar NbMoTaW to 81 % Nb and 81 % Mo. 272 hops (34 vacancy sites x 8), 0 failed, 27 min
# on 2 cores (6 s a hop; the test suite ran beside it for 7 of them).
#
# Usage: bash benchmarks/snap_corners.sh [OUT]   (default runs/snap_corners; resumable)
set -euo pipefail
out=${1:-runs/snap_corners}
shared=${VMEB_SHARED:-$(cd "$(dirname "$0")/../.." && pwd)/shared}
p=$shared/potentials/NbMoTaW_SNAP_Li2020
snap="snap:$p/Ta-W-Nb-Mo.snapcoeff,$p/Ta-W-Nb-Mo.newlammps.snapparam"
mkdir -p "$out/samples"
build() {  # composition seed name
    [ -f "$out/samples/$3.extxyz" ] ||
        vmeb build --composition "$1" --cells 4 --potential "$snap" --seed "$2" \
            -o "$out/samples/$3.extxyz" --no-progress
}
build NbMoTaW 1 eq
build Nb80Mo6.67Ta6.67W6.66 1 nb80
build Nb6.25Mo81.25Ta6.25W6.25 2 mo80
build Nb60Mo13.33Ta13.33W13.34 3 nb60
build Nb13.33Mo60Ta13.33W13.34 4 mo60
s=$out/samples
neb() {  # sites seed samples...
    local sites=$1 seed=$2
    shift 2
    vmeb neb "$@" --potential "$snap" --random-sites "$sites" --seed "$seed" \
        -o "$out/dataset" --species Ta,Nb,Mo,W --no-progress
}
neb 3 1 "$s/eq.extxyz" "$s/nb80.extxyz"
neb 6 2 "$s/mo80.extxyz"
neb 5 3 "$s/nb60.extxyz" "$s/mo60.extxyz"
neb 6 5 "$s/eq.extxyz" "$s/nb80.extxyz"
