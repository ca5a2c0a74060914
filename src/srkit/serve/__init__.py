"""``srkit serve``: a local web page to upscale images (docs/serve.md).

Drop images on the page, pick models (several run side by side), the scale, tile and precision, watch
the tiles being done, compare input and output with a before/after slider and synchronised zoom, and
download the results, written by the file pipeline of ``srkit upscale``.

- :mod:`srkit.serve.config`: the settings and the loopback rule (no dependencies);
- :mod:`srkit.serve.choices`: the models offered (no dependencies beyond srkit's tables);
- :mod:`srkit.serve.jobs`: jobs, their folders and the worker thread (PyTorch, no web framework);
- :mod:`srkit.serve.app`: the Starlette application and the page (``page.html``);
- :mod:`srkit.serve.server`: listening with uvicorn.

Starlette and uvicorn are the optional extra ``srkit[serve]``; nothing here is imported by
``import srkit`` or by other commands.
"""
