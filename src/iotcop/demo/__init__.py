"""Demo firmware images built from real Debian packages, for tests, the README demo and benchmarks.

    from iotcop.demo.builder import build_image
    built = build_image("vulnerable", arch="mipsel", size="small")
"""
