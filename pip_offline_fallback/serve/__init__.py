"""``pip-ff serve`` and ``pip-ff run``: one local index for every installer (issue 25).

``command`` holds the command lines and the server's life cycle (the only module that imports
waitress), ``app`` the WSGI views, ``files`` the file answers (HEAD, Range, verification),
``pages`` the index page model (PEP 503 HTML and PEP 691 JSON), ``upstream`` every question to
the index (through pip-ff's engine), ``childindex`` what ``run`` sets in its command's
environment. Importing this package imports nothing.
"""
