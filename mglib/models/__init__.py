"""Model families, one file each (nanoGPT style)."""
