"""Demo firmware images built from real Debian packages, for tests, the README demo and benchmarks.

    from iotcop.demo.builder import build_image
    built = build_image("vulnerable", arch="mipsel", size="small")
"""

from __future__ import annotations

__all__ = ["BuildError", "BuiltImage", "DebPackage", "build_image", "ensure_debian_packages"]


def __getattr__(name: str):
    # Lazy, so that `python -m iotcop.demo.builder` does not import the module twice.
    if name in __all__:
        from iotcop.demo import builder

        return getattr(builder, name)
    raise AttributeError(name)
