"""The session-end check of tests/leftovers.py names what a session left in the temporary directory."""

from __future__ import annotations

from pathlib import Path

from tests.leftovers import leftovers, project_entries


def test_an_empty_private_directory_and_no_new_project_entries_is_clean(tmp_path: Path):
    private = tmp_path / "tiendo-test-1"
    private.mkdir()
    (tmp_path / "tiendo-pg-old").mkdir()
    (tmp_path / "someone-elses").mkdir()
    before = project_entries(tmp_path)
    (tmp_path / "not-ours-later").mkdir()
    (tmp_path / "tiendo-test-2").mkdir()  # another session's, running beside this one
    assert leftovers(private, tmp_path, before) == []


def test_files_in_the_private_directory_and_new_project_entries_are_named(tmp_path: Path):
    private = tmp_path / "tiendo-test-1"
    (private / "kafka-logs").mkdir(parents=True)
    (private / "kafka-logs" / "segment").write_text("x")
    before = project_entries(tmp_path)
    (tmp_path / "tiendo-pg-abc").mkdir()
    (tmp_path / "bench-agg-1").mkdir()
    found = leftovers(private, tmp_path, before)
    assert found == [
        str(private / "kafka-logs"),
        str(private / "kafka-logs" / "segment"),
        str(tmp_path / "bench-agg-1"),
        str(tmp_path / "tiendo-pg-abc"),
    ]
