"""Retriever fine-tuning (issue 12): contrastive training with hard negatives, LLM-free pseudo-query
adaptation, reader feedback (REPLUG LSR) and distillation, for any sentence-transformers bi-encoder.

``python -m experiments.train`` is the Hydra entry (config group ``train``); the modules here are
plain Python taking typed arguments: ``losses`` (pure torch functions), ``data`` (corpus, splits,
training examples), ``mining`` (hard negatives), ``encoder`` (the trainable bi-encoder),
``feedback`` (LM-scored targets: REPLUG and teacher scores), ``trainer`` (the loop), ``evaluate``
(dense Recall@k), ``pipeline`` (the sources and one run end to end), ``aggregate`` (sweep table)
and ``reindex`` (one command to re-index).
"""
