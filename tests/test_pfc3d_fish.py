"""FISH binary files: typed records parsed with numpy/struct."""

import struct

import numpy as np
import pytest

from labquake.errors import DataFormatError
from labquake.io.pfc3d.fish import (
    FISH_MAGIC,
    decode_fish_bytes,
    encode_fish_values,
    is_fish_binary,
    read_fish_binary,
    write_fish_binary,
)


def test_every_record_type_round_trips(tmp_path):
    values = [7, -3, 2.5, "James", "", "abcd", "abcde", (99.5, 89.3), (7.0, 8.0, 9.0), True, False, 1e-300]
    p = write_fish_binary(tmp_path / "t.fish", values)
    assert is_fish_binary(p)
    assert read_fish_binary(p) == values
    raw = p.read_bytes()
    assert struct.unpack_from("<i", raw, 0)[0] == FISH_MAGIC == 178278912
    # string "James": type 3, length 5, bytes padded to 8
    i = raw.index(b"James")
    assert struct.unpack_from("<ii", raw, i - 8) == (3, 5) and raw[i + 5:i + 8] == b"\0\0\0"


def test_layout_matches_the_itasca_test_file():
    """The record layout of Itasca's FISH I/O test data: int, float, string, vec2, vec3."""
    data = (struct.pack("<i", 178278912) + struct.pack("<ii", 1, 1) + struct.pack("<id", 2, 99.987)
            + struct.pack("<ii", 3, 5) + b"James\0\0\0" + struct.pack("<idd", 5, 99.5, 89.3)
            + struct.pack("<iddd", 6, 7.0, 8.0, 9.0))
    values, types = decode_fish_bytes(data)
    assert values == [1, 99.987, "James", (99.5, 89.3), (7.0, 8.0, 9.0)] and types == [1, 2, 3, 5, 6]


def test_homogeneous_files_take_the_numpy_path():
    vals = list(np.random.default_rng(0).normal(size=1000))
    out, types = decode_fish_bytes(encode_fish_values(vals))
    assert out == vals and set(types) == {2}
    out, _ = decode_fish_bytes(encode_fish_values(list(range(-5, 500))))
    assert out == list(range(-5, 500))


@pytest.mark.parametrize("cut", [c for c in range(1, 32) if c not in (8, 20)])  # 8, 20: record ends
def test_every_truncation_is_reported(cut):
    data = encode_fish_values([3.0, "xy", 4])
    with pytest.raises(DataFormatError, match="truncated FISH binary file|too short"):
        decode_fish_bytes(data[:-cut], "f.fish")


def test_bad_inputs():
    with pytest.raises(DataFormatError, match="empty file"):
        decode_fish_bytes(b"", "f.fish")
    with pytest.raises(DataFormatError, match="magic number 1, expected 178278912"):
        decode_fish_bytes(struct.pack("<i", 1), "f.fish")
    with pytest.raises(DataFormatError, match="negative string length"):
        decode_fish_bytes(struct.pack("<iii", FISH_MAGIC, 3, -4), "f.fish")
    with pytest.raises(TypeError):
        encode_fish_values([{"a": 1}])
