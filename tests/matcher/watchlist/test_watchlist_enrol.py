"""Enrolment from image folders and CSV manifests (real FaceEngine), and the ``matcher watchlist`` CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from wl_helpers import MODEL, TABLE, mate, unit

from matcher.cli import main
from matcher.types import Template
from matcher.watchlist import WatchlistError, WatchlistMissingError, WatchlistStore
from matcher.watchlist import cli as wl_cli
from matcher.watchlist.enrol import enrol, items_from_csv, items_from_folder


@pytest.fixture
def faces_dir(tmp_path: Path, astronaut: np.ndarray, grace_hopper: np.ndarray) -> Path:
    folder = tmp_path / "faces"
    folder.mkdir()
    cv2.imwrite(str(folder / "astronaut.jpg"), astronaut)
    cv2.imwrite(str(folder / "hopper.png"), grace_hopper)
    cv2.imwrite(str(folder / "blank.png"), np.full((300, 300, 3), 128, np.uint8))
    side = cv2.resize(astronaut, (300, 300))
    cv2.imwrite(str(folder / "twins.png"), np.hstack([side, side]))
    return folder


def test_folder_enrolment_reports_failures_and_keeps_the_rest(engine, faces_dir, tmp_path, astronaut):
    store = WatchlistStore(tmp_path / "wl", threshold_tables={engine.model_id: TABLE}, create=True)
    store.create_list("wanted", model_id=engine.model_id)
    report = enrol(store, "wanted", items_from_folder(faces_dir, category="wanted"), lambda: engine)
    assert sorted(ref for ref, _ in report.added) == ["astronaut", "hopper"]
    assert {f.external_ref: f.code for f in report.failures} == {
        "blank": "NO_FACE",
        "twins": "MULTIPLE_FACES",
    }
    probe = engine.template(cv2.flip(astronaut, 1))
    alerts = store.search(probe)
    assert [a.external_ref for a in alerts] == ["astronaut"]


def _write_templates(folder: Path, vectors: np.ndarray, model: str = MODEL) -> list[str]:
    names = []
    for i, v in enumerate(vectors):
        name = f"t{i}.tpl"
        (folder / name).write_bytes(Template(v, model).to_bytes())
        names.append(name)
    return names


def test_csv_of_templates_with_wrong_dimension_reports_it(tmp_path, rng):
    names = _write_templates(tmp_path, unit(rng, 3))
    (tmp_path / "short.tpl").write_bytes(Template(unit(rng, 1, dim=128)[0], MODEL).to_bytes())
    csv = tmp_path / "list.csv"
    rows = [f"R{i},{n},wanted,critical,2030-01-01,interpol" for i, n in enumerate(names)]
    csv.write_text(
        "external_ref,template,category,severity,valid_until,source\n"
        + "\n".join(rows)
        + "\nS,short.tpl,,,,\n"
    )
    store = WatchlistStore(tmp_path / "wl", threshold_tables={MODEL: TABLE}, create=True)
    store.create_list("L", model_id=MODEL)
    report = enrol(store, "L", items_from_csv(csv))
    assert len(report.added) == 3
    assert [(f.external_ref, f.code) for f in report.failures] == [("S", "TEMPLATE_MISMATCH")]
    e = store.entries("L")[0]
    assert (e.severity, e.valid_until, e.source, e.category) == (
        "critical",
        "2030-01-01T23:59:59Z",
        "interpol",
        "wanted",
    )


def test_several_images_of_one_subject_make_one_fused_entry(tmp_path, rng):
    """A reference on several CSV rows: one entry, the normalised mean of its usable templates; a mate
    scores higher against it than against either image alone."""
    centre = unit(rng, 1)[0]
    shots = [mate(centre, 0.7, rng).vector for _ in range(3)]
    names = _write_templates(tmp_path, np.stack(shots))
    (tmp_path / "short.tpl").write_bytes(Template(unit(rng, 1, dim=128)[0], MODEL).to_bytes())
    csv = tmp_path / "list.csv"
    csv.write_text(
        "external_ref,template,category\n"
        + "".join(f"A,{n},wanted\n" for n in names[:2])
        + "A,short.tpl,wanted\n"
    )
    store = WatchlistStore(tmp_path / "wl", create=True, threshold_tables={MODEL: TABLE})
    store.create_list("L", model_id=MODEL)
    report = enrol(store, "L", items_from_csv(csv))
    assert len(report.added) == 1 and [f.code for f in report.failures] == ["TEMPLATE_MISMATCH"]
    ((_, template),) = list(store.iter_templates("L"))
    fused = shots[0] + shots[1]
    assert np.allclose(template.vector, fused / np.linalg.norm(fused), atol=1e-6)
    probe = Template(shots[2], MODEL)
    assert store.search(probe)[0].score > max(float(shots[2] @ shots[0]), float(shots[2] @ shots[1]))
    with pytest.raises(ValueError, match="cancel out"):
        Template.fuse([Template(centre, MODEL), Template(-centre, MODEL)])


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("external_ref,template\nA,t0.tpl\nB,missing.tpl\n", "missing file missing.tpl"),
        ("external_ref,template,source\nA,t0.tpl,x\nA,t1.tpl,y\n", "'A' repeats with other category"),
        ("external_ref,template,severity\nA,t0.tpl,urgent\n", "severity"),
        ("external_ref,template,valid_until\nA,t0.tpl,next week\n", "ISO-8601"),
        ("ref,path\nA,t0.tpl\n", "columns"),
    ],
)
def test_bad_csv_is_refused_whole_and_list_untouched(tmp_path, rng, body, match):
    _write_templates(tmp_path, unit(rng, 2))
    csv = tmp_path / "bad.csv"
    csv.write_text(body)
    store = WatchlistStore(tmp_path / "wl", threshold_tables={MODEL: TABLE}, create=True)
    store.create_list("L", model_id=MODEL)
    before = store.info("L")
    with pytest.raises(WatchlistError, match=match):
        enrol(store, "L", items_from_csv(csv))
    assert store.info("L") == before


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["matcher", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_end_to_end(engine, faces_dir, tmp_path, monkeypatch, capsys, astronaut):
    monkeypatch.setattr(wl_cli, "_engine", lambda: engine)
    st = ["watchlist", "--store", str(tmp_path / "wl")]
    code, out, _ = run_cli(
        monkeypatch, capsys, *st, "create", "wanted", "--score", "0.35", "--owner", "police"
    )
    assert code == 0 and engine.model_id in out
    code, out, err = run_cli(monkeypatch, capsys, *st, "add", "wanted", str(faces_dir))
    assert code == 0 and "2 added, 2 failed" in out and "NO_FACE" in err and "MULTIPLE_FACES" in err
    probe = tmp_path / "probe.png"
    cv2.imwrite(str(probe), cv2.flip(astronaut, 1))
    code, out, _ = run_cli(monkeypatch, capsys, *st, "search", str(probe), "--json")
    alerts = json.loads(out)["alerts"]
    assert code == 0 and [a["external_ref"] for a in alerts] == ["astronaut"]
    code, _, _ = run_cli(monkeypatch, capsys, *st, "keygen", str(tmp_path / "k.key"), str(tmp_path / "k.pem"))
    bundle = tmp_path / "wanted.bundle"
    code, out, _ = run_cli(
        monkeypatch, capsys, *st, "export", "wanted", str(bundle), "--sign-key", str(tmp_path / "k.key")
    )
    assert code == 0 and "2 entries" in out
    kiosk = ["watchlist", "--store", str(tmp_path / "kiosk")]
    trusted = ("--trusted-key", str(tmp_path / "k.pem"))
    code, _, err = run_cli(monkeypatch, capsys, *kiosk, "import", str(bundle), *trusted)
    assert code == 2 and err.startswith("error: no watchlist store at") and not (tmp_path / "kiosk").exists()
    code, out, _ = run_cli(monkeypatch, capsys, *kiosk, "create")
    assert code == 0 and "0 list(s)" in out
    code, _, err = run_cli(monkeypatch, capsys, *kiosk, "import", str(bundle))
    assert code == 2 and err.startswith("error: no trusted keys")
    code, out, _ = run_cli(monkeypatch, capsys, *kiosk, "import", str(bundle), *trusted)
    assert code == 0 and "imported wanted: 2 entries" in out
    code, out, _ = run_cli(monkeypatch, capsys, *kiosk, "import", str(bundle), *trusted)  # a sync retry
    assert code == 0 and "wanted already up to date: version 2" in out
    code, out, _ = run_cli(monkeypatch, capsys, *kiosk, "info", "--json")
    assert json.loads(out)[0]["threshold"] == 0.35
    code, out, _ = run_cli(monkeypatch, capsys, *kiosk, "remove", "wanted", "astronaut")
    assert code == 0
    code, out, _ = run_cli(monkeypatch, capsys, *kiosk, "search", str(probe))
    assert out.strip() == "no alert"
    code, _, err = run_cli(monkeypatch, capsys, *kiosk, "remove", "wanted", "nobody")
    assert code == 2 and err.startswith("error: not in list")


@pytest.mark.parametrize(
    "sub", ["create", "add", "remove", "search", "info", "rebuild", "delete", "export", "import", "recall"]
)
def test_help_creates_nothing(sub, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(monkeypatch, capsys, "watchlist", sub, "--help")
    assert code == 0 and "Usage" in out
    assert list(tmp_path.iterdir()) == []


def test_read_only_commands_on_a_mistyped_store_fail_and_create_nothing(tmp_path, monkeypatch, capsys):
    typo = tmp_path / "watchlsts"
    for args in (["info"], ["info", "wanted"], ["rebuild", "wanted"], ["recall", "wanted"]):
        code, out, err = run_cli(monkeypatch, capsys, "watchlist", "--store", str(typo), *args)
        assert (code, out) == (2, "")
        assert (
            err
            == f"error: no watchlist store at {typo} (`matcher watchlist --store {typo} create` makes one)\n"
        )
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(WatchlistMissingError):
        WatchlistStore(typo)
