#!/usr/bin/env bash
# Continue the shared Ta-Nb-Mo grid campaign as docs/paper_reproduction.md did: 12 vacancy sites
# (96 hops) for each of the 33 training compositions that had none or 3 sites, and 2 sites of
# pure Mo (about 58 min on 2 idle cores).
#
#   cp -r ../shared/datasets/tanbmo-eam-250 DATA
#   examples/paper/continue_campaign.sh DATA
set -euo pipefail
data=${1:?usage: continue_campaign.sh DATA (a copy of ../shared/datasets/tanbmo-eam-250)}
sites="$(cd "$(dirname "$0")" && pwd)/tanbmo_grid_sites.txt"
cd "$data"
grep -v '^#' "$sites" | while read -r sample list; do
    vmeb neb "samples/$sample" --sites "$list" -o tanbmo-eam-250 --species Ta,Nb,Mo \
        --no-progress < /dev/null
done
vmeb neb samples/054_Mo100.extxyz --random-sites 2 --seed 1 -o tanbmo-eam-250 \
    --species Ta,Nb,Mo --no-progress
