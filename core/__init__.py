"""Glassbox core: the product's logic, free of any UI framework.

Subpackages follow ../DESIGN (tokenization, model, sampling, training, pool, store, viz);
imports run one way, from the page-facing packages down to model/tokenization/store/viz.
"""
