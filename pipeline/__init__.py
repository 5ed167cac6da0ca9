"""The batch pipeline of faceedit: the Ceteris Paribus Face Challenge (and any folder of faces) in one command.

Thin orchestration over the library, one module per job:

- ``run.py``: ``python -m pipeline.run --config pipeline.toml [key=value ...]``: the command and the loop
  over references (align → project → translate → mixups → save), resumable, with a final summary.
- ``references.py``: which reference faces there are and their labels (file names or a CSV), and the
  translation names each one needs.
- ``steps.py``: the library calls behind each step (no model math here).
- ``report.py``: ``report.json``, ``report.html`` and the contact sheets.
- ``check.py``: ``python -m pipeline.check DIR_OR_ZIP``: validates a submission.
- ``demo.py``: ``python -m pipeline.demo``: a challenge-like reference set from the shared data, run end to end.
"""
