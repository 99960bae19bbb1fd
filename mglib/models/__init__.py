"""Model families, one file each (nanoGPT style). Importing this package imports no model and no optional
GPU package (torchvision, mamba-ssm)."""
