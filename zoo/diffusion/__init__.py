"""Beta schedules, the Gaussian diffusion process and its samplers."""
