"""Measuring instruments: image metrics, realism of generated faces, what an edit changes, acceptance
of translations by an independent model."""
