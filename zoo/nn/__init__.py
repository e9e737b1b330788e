"""Building blocks of the U-Net, each registered as a plugin component."""
