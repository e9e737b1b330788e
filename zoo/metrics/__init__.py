"""Feature extractors and scores (FID, KID, IS, diversity, precision/recall)."""
