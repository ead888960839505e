"""Malformed PFC3D input: one clear line naming the file and the line, and no run directory."""

import shutil
import struct
from pathlib import Path

import pytest

from labquake.cli import main
from labquake.errors import DataFormatError
from labquake.io.pfc3d import import_pfc
from labquake.io.pfc3d.fish import decode_fish_bytes, encode_fish_values

DATA = Path(__file__).parent / "data" / "pfc3d"


def _src(tmp_path, fixture="run487"):
    src = tmp_path / "src"
    shutil.copytree(DATA / fixture, src)
    return src


def _edit_line(path: Path, lineno: int, fn) -> None:
    lines = path.read_text().splitlines()
    lines[lineno - 1] = fn(lines[lineno - 1])
    path.write_text("\n".join(lines) + "\n")


def _fails(tmp_path, src, capsys, *patterns):
    """Run the CLI; expect exit 2, one stderr line matching every pattern, nothing written."""
    out = tmp_path / "parent" / "run"
    (tmp_path / "parent").mkdir()
    rc = main(["import-pfc", str(src), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("labquake: error: "), err
    for p in patterns:
        assert p in lines[0], (p, lines[0])
    assert not out.exists()
    assert list((tmp_path / "parent").iterdir()) == []  # no partial directory either
    return lines[0]


def test_missing_column(tmp_path, capsys):
    src = _src(tmp_path)
    p = src / "ms487-1.txt"
    p.write_text("\n".join(" ".join(l.split()[:-1]) for l in p.read_text().splitlines()) + "\n")
    _fails(tmp_path, src, capsys, "ms487-1.txt, line 1", "expected at least 17 columns", "found 16")


def test_missing_column_in_a_header_table(tmp_path, capsys):
    src = _src(tmp_path)
    (src / "balls.csv").write_text("id,pos_x,pos_y,pos_z\n1,0,0,0\n")
    _fails(tmp_path, src, capsys, "balls.csv, line 1", "missing column 'radius'")


def test_wrong_column_count(tmp_path, capsys):
    src = _src(tmp_path)
    _edit_line(src / "crk487-1.txt", 3, lambda l: l + " 0.5")
    _fails(tmp_path, src, capsys, "crk487-1.txt, line 3", "expected 8 columns", "found 9")


def test_wrong_column_count_in_a_history(tmp_path, capsys):
    src = _src(tmp_path)
    _edit_line(src / "bvy_oe487-1.txt", 4, lambda l: " ".join(l.split()[:-1]))
    _fails(tmp_path, src, capsys, "bvy_oe487-1.txt, line 4", "expected 4 columns", "found 3")


def test_history_with_other_contact_count(tmp_path, capsys):
    src = _src(tmp_path)
    p = src / "cs487-2.txt"
    p.write_text("\n".join(l + " 1.0" for l in p.read_text().splitlines()) + "\n")
    _fails(tmp_path, src, capsys, "cs487-2.txt, line 1", "expected 4 columns", "found 5")


def test_nan(tmp_path, capsys):
    src = _src(tmp_path)
    _edit_line(src / "ae487-1.txt", 2, lambda l: l.replace(" 4.0e2 ", " nan ", 1))
    _fails(tmp_path, src, capsys, "ae487-1.txt, line 2, column 6 (M11)", "not a finite number")


def test_nan_in_a_stress_history(tmp_path, capsys):
    src = _src(tmp_path)
    _edit_line(src / "S487-sh.csv", 4, lambda l: l.split(",")[0] + ",NaN")
    _fails(tmp_path, src, capsys, "S487-sh.csv, line 4", "column 2 (sh)", "not a finite number")


def test_text_where_a_number_belongs(tmp_path, capsys):
    src = _src(tmp_path)
    _edit_line(src / "cn487-1.txt", 2, lambda l: l.replace("2010", "2o10"))
    _fails(tmp_path, src, capsys, "cn487-1.txt, line 2, column 3", "cannot read '2o10' as a number")


def test_unknown_crack_type(tmp_path, capsys):
    src = _src(tmp_path)
    _edit_line(src / "crk487-1.txt", 4, lambda l: l.replace("sj_Tension", "pb_bond"))
    _fails(tmp_path, src, capsys, "crk487-1.txt, line 4", "unknown crack type 'pb_bond'")


def test_unknown_contact_model(tmp_path, capsys):
    src = _src(tmp_path)
    (src / "c_model487-2.txt").write_text("smoothjoint\nmystery\nsmoothjoint\n")
    _fails(tmp_path, src, capsys, "c_model487-2.txt, line 2", "unknown contact model 'mystery'")


@pytest.mark.parametrize("cut", [3, 9, 30, 61, 101, 271])
def test_truncated_fish_binary(tmp_path, capsys, cut):
    src = _src(tmp_path, "fish12")
    p = src / "crk12-1.fish"
    p.write_bytes(p.read_bytes()[:cut])
    msg = _fails(tmp_path, src, capsys, "crk12-1.fish")
    assert "FISH binary" in msg or "do not fill rows" in msg


def test_truncated_fish_binary_names_record_and_byte():
    data = encode_fish_values([1, 2.5, "abcdef", (1.0, 2.0, 3.0)])
    with pytest.raises(DataFormatError, match=r"x\.fish: truncated FISH binary file: record 4 \(vector3\) at byte 40"):
        decode_fish_bytes(data[:-5], "x.fish")
    with pytest.raises(DataFormatError, match=r"record 3 \(string of 6 bytes\) at byte 24 needs 16 bytes, only 11 left"):
        decode_fish_bytes(data[:35], "x.fish")
    with pytest.raises(DataFormatError, match="unknown FISH type code 7"):
        decode_fish_bytes(data + struct.pack("<ii", 7, 0), "x.fish")
    with pytest.raises(DataFormatError, match="not a FISH binary file"):
        decode_fish_bytes(b"\x00\x00\x00\x00", "x.fish")


def test_mismatched_trial_lengths(tmp_path, capsys):
    src = _src(tmp_path)
    for q in ("cn", "cs"):
        p = src / f"{q}487-2.txt"
        p.write_text("\n".join(p.read_text().splitlines()[:-1]) + "\n")
    _fails(tmp_path, src, capsys, "cn487-1.txt, line 5", "mismatched trial lengths", "cn487-2.txt", "4", "5")


def test_mismatched_lengths_within_a_trial(tmp_path, capsys):
    src = _src(tmp_path)
    p = src / "bdz487-1.txt"
    lines = p.read_text().splitlines()
    p.write_text("\n".join(lines[:3]) + "\n")
    _fails(tmp_path, src, capsys, "cn487-1.txt, line 4", "bdz487-1.txt has 3")


@pytest.mark.parametrize("name", ["ms487-1.txt", "crk487-1.txt", "cn487-1.txt", "S487-ss.csv", "c_model487-1.txt"])
def test_empty_file(tmp_path, capsys, name):
    src = _src(tmp_path)
    (src / name).write_text("")
    _fails(tmp_path, src, capsys, f"{name}, line 1", "empty file")


def test_empty_fish_binary(tmp_path, capsys):
    src = _src(tmp_path, "fish12")
    (src / "cn12-1.fish").write_bytes(encode_fish_values([]))
    _fails(tmp_path, src, capsys, "cn12-1.fish, record 1", "holds no records")


def test_nothing_to_import(tmp_path, capsys):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "readme.txt").write_text("hello")
    _fails(tmp_path, tmp_path / "src", capsys, "no PFC3D exports found")


def test_importers_parse_and_never_evaluate(tmp_path, capsys):
    """Code in a data file stays text: it is an error, never run."""
    src = _src(tmp_path)
    flag = tmp_path / "PWNED"
    _edit_line(src / "crk487-1.txt", 2,
               lambda l: l.replace("fjten", f"__import__('os').system('touch {flag}')".replace(" ", "")))
    _edit_line(src / "ms487-1.txt", 1, lambda l: l.replace(" 1000 ", f" __import__('pathlib').Path('{flag}').touch() "))
    import pickle

    (src / "cs487-2.txt").write_bytes(pickle.dumps({"boom": 1}))
    (src / "balls.csv").write_text("id,x,y,z,radius\n1,0,0,exec('1'),0.1\n")
    main(["import-pfc", str(src), "--out", str(tmp_path / "o")])
    capsys.readouterr()
    assert not flag.exists()
    import re

    banned = re.compile(r"\beval\(|\bexec\(|import pickle|pickle\.load|allow_pickle=True|literal_eval|marshal\.|"
                        r"np\.load\(|read_pickle")
    for p in Path(__file__).parent.parent.joinpath("labquake", "io").glob("pfc3d*.py"):
        assert not banned.search(p.read_text()), (p.name, banned.search(p.read_text()).group())


def test_python_api_raises_data_format_error(tmp_path):
    src = _src(tmp_path)
    (src / "ms487-1.txt").write_text("1 2 3\n")
    with pytest.raises(DataFormatError, match=r"ms487-1\.txt, line 1: expected at least 17 columns"):
        import_pfc(src, tmp_path / "o")
    assert not (tmp_path / "o").exists()
