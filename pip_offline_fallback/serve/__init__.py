"""``pip-ff serve`` and ``pip-ff run``: one local index for every installer (issue 25).

``command`` holds serve's command line and starts the server (the only module that imports
waitress); ``run`` is ``pip-ff run``, ``daemon`` finds, starts, proves and stops the per-user
serve it uses, ``peruser`` is that serve's process, ``state`` what it keeps in the record's
directory, ``control`` its side of the proof, its counts and its idle timer, ``digest`` the
SHA-256 and HMAC run computes without hashlib, ``lockfiles`` run's look at uv.lock and
poetry.lock; ``app`` the WSGI views, ``files`` the file answers (HEAD, Range, verification),
``pages`` the index page model (PEP 503 HTML and PEP 691 JSON), ``upstream`` every question to
the index (through pip-ff's engine), ``childindex`` what ``run`` sets in its command's
environment. Importing this package imports nothing.
"""
