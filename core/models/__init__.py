"""Pretrained models that Glassbox downloads (catalogue) and the command that gets them."""
