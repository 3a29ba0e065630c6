"""The write-ahead spool: framing, torn-tail recovery, backpressure."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokentrail.errors import Overloaded
from tokentrail.ingest.spool import Spool, valid_length
from tokentrail.ingest.wire import frame


def test_records_survive_reopen_and_a_torn_tail_is_cut(tmp_path: Path) -> None:
    spool = Spool(tmp_path, fsync=True)
    for i in range(5):
        spool.append(b"record-%d" % i)
    path = spool._path
    with open(path, "ab") as f:  # a crash in the middle of writing a sixth record
        f.write(frame(b"x" * 100)[:20])
    reopened = Spool(tmp_path)
    segments = reopened.take(1 << 30, wait=0)
    assert [p for p, _ in segments] == [path]
    data = path.read_bytes()
    assert valid_length(data) == len(data) == sum(len(frame(b"record-%d" % i)) for i in range(5))


def test_full_backlog_refuses_with_retry_after(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_backlog_bytes=1000, fsync=False)
    spool.append(b"a" * 900)
    with pytest.raises(Overloaded) as e:
        spool.append(b"b" * 200)
    assert e.value.status == 503 and e.value.retry_after >= 1
    spool.done(spool.take(1 << 30, wait=1.0))
    spool.append(b"b" * 200)  # room again once the backlog is loaded


def test_segments_rotate_by_size_and_are_taken_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=100, fsync=False)
    for _ in range(10):
        spool.append(b"z" * 60)
    taken = spool.take(250, wait=0)
    assert 1 <= len(taken) <= 4
    names = [p.name for p, _ in taken]
    assert names == sorted(names)


def test_a_write_the_disk_refuses_leaves_no_torn_record_and_is_not_acknowledged(tmp_path: Path,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from tokentrail.ingest import spool as spool_module

    spool = Spool(tmp_path, fsync=False)
    spool.append(b"first")
    real_write = os.write

    def full_disk(fd: int, data: bytes) -> int:  # the disk takes half the record, then is full
        return real_write(fd, data[: len(data) // 2])

    monkeypatch.setattr(spool_module.os, "write", full_disk)
    with pytest.raises(Overloaded) as e:
        spool.append(b"second record")
    assert e.value.retry_after >= 1 and spool.write_error
    monkeypatch.setattr(spool_module.os, "write", real_write)
    spool.append(b"third")  # space again: it goes on, and clears the error
    assert spool.write_error == ""
    data = spool._path.read_bytes()
    assert valid_length(data) == len(data) == len(frame(b"first")) + len(frame(b"third"))
