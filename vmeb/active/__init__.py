"""Active learning of barrier datasets: where the next NEB is worth computing (`vmeb campaign`).

A campaign draws a pool of candidate vacancy sites (random solid solutions over a composition
domain, CSRO states, or the sites of labelled datasets), then repeats rounds of: score every
candidate with a deep ensemble (spread of its 8 hops, plus a composition-coverage bonus), pick a
batch by uncertainty with diversity (k-means in a descriptor space, stratified over
compositions; or at random, the baseline), label it (NEB through `vmeb.neb.campaign`, or rows
revealed from a pool dataset), retrain, evaluate on a fixed test set and append a row to the
learning curve, until a budget or a target is reached. Every stage is resumable.

Modules: `config` (settings), `pool` (candidates and descriptors), `selection` (scores,
batches), `labels` (NEB or revealed labels), `models` (ensemble training, spreads, test
errors), `curve` (learning curve), `loop` (the rounds, state files, stopping).
``docs/active_learning.md`` explains the loop.
"""
