"""The faceedit desktop editor (PySide6): open a photo, move attribute sliders, save the edit.

Run it with ``python -m editor`` or ``faceedit-editor``; see :mod:`editor.app` for the options.  The UI
(:mod:`editor.window`, :mod:`editor.widgets`) is thin: every model call goes through the editing session
(:mod:`editor.session`) on a worker thread (:mod:`editor.worker`); the undo/redo model
(:mod:`editor.state`) is plain Python.
"""
