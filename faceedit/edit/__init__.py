"""Edits in W+: direction finders, named translations and their naming convention, building and
calibrating the default set, other projects' layouts."""
