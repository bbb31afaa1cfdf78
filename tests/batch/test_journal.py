"""Journal and result store: crash-safe appends, one result per key."""

from __future__ import annotations

from iotcop.batch.journal import Journal, ResultStore


def test_torn_last_line_is_ignored_and_closed(tmp_path):
    j = Journal(tmp_path)
    j.append("done", sha256="a" * 64, path="x")
    with open(j.path, "ab") as fh:
        fh.write(b'{"event": "done", "sha2')  # what a crash in the middle of a write leaves
    j.append("done", sha256="b" * 64, path="y")
    finished = j.finished()
    assert set(finished) == {"a" * 64, "b" * 64}
    assert len(list(j.records())) == 2


def test_failed_then_done_keeps_the_last(tmp_path):
    j = Journal(tmp_path)
    j.append("failed", sha256="c" * 64, path="z", error="boom")
    j.append("done", sha256="c" * 64, path="z")
    assert j.finished()["c" * 64]["event"] == "done"


def test_second_write_of_a_result_is_dropped(tmp_path):
    store = ResultStore(tmp_path)
    assert store.write("k1", {"report.json": b"first"}) is True
    assert store.write("k1", {"report.json": b"second"}) is False
    assert (store.folder("k1") / "report.json").read_bytes() == b"first"
    assert store.has("k1") and not store.has("k2")
    assert [p.name for p in store.root.iterdir()] == ["k1"]


def test_half_written_results_are_cleaned(tmp_path):
    store = ResultStore(tmp_path)
    (store.root / ".tmp-deadbeef-x").mkdir()
    (store.root / ".tmp-deadbeef-x" / "report.json").write_text("{")
    assert store.clean_temporaries() == 1
    assert list(store.root.iterdir()) == []
