"""Back to pixels: mix the edit into the face (one blending primitive), carry it onto the photo's own
pixels, paste the face back into the photo."""
