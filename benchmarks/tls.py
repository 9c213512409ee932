"""A throw-away certificate authority for the HTTPS index, made with the ``openssl`` command.

pip keeps its HTTP cache for https URLs only (plain-http responses go through an adapter without
a cache), so a PyPI-like index, whose answers pip caches, must speak TLS. The test bed's
IndexServer takes anything shaped like ``trustme.CA``; this is such a thing without trustme
(a test-only dependency), with ``trustme`` as the second choice when there is no ``openssl``.
"""

from __future__ import annotations

import ipaddress
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any


class _Pem:
    def __init__(self, path: Path) -> None:
        self._path = path

    def write_to_path(self, path: Any, append: bool = False) -> None:
        data = self._path.read_bytes()
        with open(path, "ab" if append else "wb") as f:
            f.write(data)


class _Leaf:
    def __init__(self, cert: Path, key: Path) -> None:
        self._cert = cert
        self._key = key

    def configure_cert(self, ctx: ssl.SSLContext) -> None:
        ctx.load_cert_chain(str(self._cert), str(self._key))


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(
        ["openssl", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {done.stderr.strip()}")


class OpensslCA:
    """A CA (P-256 keys, valid two days) that issues server certificates for loopback names."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self._serial = 1
        _openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=pip-ff benchmarks CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            cwd=self.dir,
        )  # fmt: skip
        self.cert_pem = _Pem(self.dir / "ca.pem")

    def issue_cert(self, *identities: str) -> _Leaf:
        self._serial += 1
        name = f"leaf{self._serial}"
        names = []
        for identity in identities:
            try:
                ipaddress.ip_address(identity)
                names.append(f"IP:{identity}")
            except ValueError:
                names.append(f"DNS:{identity}")
        (self.dir / f"{name}.ext").write_text(
            f"subjectAltName={','.join(names)}\n"
            "basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature\n"
            "extendedKeyUsage=serverAuth\n"
        )
        _openssl(
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", f"/CN={identities[0] if identities else 'localhost'}",
            cwd=self.dir,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-set_serial", str(self._serial), "-days", "2", "-extfile", f"{name}.ext",
            "-out", f"{name}.pem",
            cwd=self.dir,
        )  # fmt: skip
        return _Leaf(self.dir / f"{name}.pem", self.dir / f"{name}.key")


def make_ca(directory: Path) -> Any:
    """An openssl CA, else a trustme CA, else None (then there is no HTTPS index)."""
    if shutil.which("openssl"):
        return OpensslCA(directory)
    try:
        import trustme
    except ImportError:
        return None
    return trustme.CA()
