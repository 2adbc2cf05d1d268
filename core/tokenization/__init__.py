"""Tokenization: the real OpenAI encodings offline, a BPE trainer, sliding-window datasets."""
