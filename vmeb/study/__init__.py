"""The paper's Ta-Nb-Mo study as library functions: one module per figure family.

- `vmeb.study.grid`: the composition grid's train/test split, composition labels, training of
  named recipes and their predictions of held-out hops (shared by the figures below).
- `vmeb.study.compositions`: Fig. 3 and Supp. Fig. 7 (train on the training compositions, error
  per unseen composition).
- `vmeb.study.shells`: Fig. 2a (validation MAE against neighbour shells) and Fig. 2b (g(r)).
- `vmeb.study.csro_states`: Fig. 4 (one model's error per CSRO state).
- `vmeb.study.selection`: Supp. Note 2 (k-means against random choice of training hops).
- `vmeb.study.spectrum`: Supp. Fig. 3 (a large sample's predicted spectrum against NEB).

The scripts in ``examples/paper/`` run one figure each; ``docs/paper_reproduction.md`` lists
their commands, times and numbers beside the paper's.
"""
