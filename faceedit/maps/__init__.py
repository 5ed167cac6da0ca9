"""Faces from segmentation maps (issue 21): read and check maps, encode them to W+, style them with a face.

- :mod:`faceedit.maps.io`: read a class-index or palette PNG (any size) into a checked ``(S, S)`` label map;
- :mod:`faceedit.maps.pairs`: the training pairs (map, W+, image) made by parsing faces with the project's parser;
- :mod:`faceedit.maps.generate`: :func:`from_map` (map → W+ → face, optionally styled by another face);
- :mod:`faceedit.maps.edit`: :func:`edit_with_map` (a face edited by a change of its map, with a calibrated gain).
"""
