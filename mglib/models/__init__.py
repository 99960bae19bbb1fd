"""Model families, one file each: PoseConv3D / RGBPoseConv3D, cross-modal fusion, prototypical refinement,
ST-GCN, torchvision video baselines. Importing this package does not import torchvision."""
