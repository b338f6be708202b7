"""Where samples come from: discovery, the dataset, patient splits, augmentation."""
