"""A checkout's own vendor/ (untracked, unlocked) never reaches the Lambda package: vendor/ is
the lock's output only."""

from pathlib import Path

from infra.build import stage_project


def test_a_stray_vendor_dir_of_the_checkout_never_reaches_the_package(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "chalicelib").mkdir(parents=True)
    (project / "vendor" / "unlocked").mkdir(parents=True)
    (project / "vendor" / "unlocked" / "__init__.py").write_text("")
    (project / ".chalice").mkdir()
    (project / "requirements.txt").write_text("")  # lock install skipped here: the copy is what is tested
    stage_project(project, tmp_path / "staged")
    assert not (tmp_path / "staged" / "vendor" / "unlocked").exists()
