"""Faces in photos: detection, landmarks and FFHQ alignment, identity descriptors, parsing, depth, regions."""
