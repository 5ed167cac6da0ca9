"""Projection: from an aligned face to a W+ code (encoder, then optimisation), one face or a folder."""
