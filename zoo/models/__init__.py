"""Models other than the U-Net (the VAE baseline)."""
