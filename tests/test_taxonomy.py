import numpy as np
import pytest

from mglib import taxonomy as tx


def test_sizes_and_order():
    assert len(tx.SMG_CLASSES) == 17 and tx.SMG_CLASSES[16] == "Illustrative hand gestures"
    assert len(tx.IMIGUE_CLASSES) == 32 and tx.IMIGUE_CLASSES[31].startswith("Illustrative")
    assert len(tx.MA52_ACTIONS) == 52 and len(tx.MA52_BODY_LEVELS) == 7
    # label-file order kept, including the swapped-looking indices 3/4
    assert (tx.MA52_ACTIONS[3]["code"], tx.MA52_ACTIONS[3]["name"]) == ("A2", "turning around")
    assert (tx.MA52_ACTIONS[4]["code"], tx.MA52_ACTIONS[4]["name"]) == ("A5", "rising up")


def test_action_to_body_contiguous_ranges():
    expect = [0] * 5 + [1] * 6 + [2] * 13 + [3] * 8 + [4] * 6 + [5] * 10 + [6] * 4
    assert tx.ACTION_TO_BODY.dtype == np.int64 and tx.ACTION_TO_BODY.tolist() == expect
    assert tx.action_to_body(9) == 1
    assert tx.action_to_body([0, 51, 32]).tolist() == [0, 6, 4]
    with pytest.raises(ValueError):
        tx.action_to_body([52])
    codes = [a["code"][0] for a in tx.MA52_ACTIONS]
    assert [tx.MA52_BODY_LETTERS[b] for b in expect] == codes


def test_imigue_raw_labels():
    assert tx.imigue_raw_to_index(99) == 31 and tx.imigue_raw_to_index(1) == 0 and tx.imigue_raw_to_index(31) == 30
    for bad in (0, 32, 98, 100):
        with pytest.raises(ValueError):
            tx.imigue_raw_to_index(bad)
    assert [tx.imigue_index_to_raw(tx.imigue_raw_to_index(r)) for r in (1, 17, 31, 99)] == [1, 17, 31, 99]


def test_package_data_matches_json():
    import json
    from pathlib import Path

    import mglib
    doc = json.loads((Path(mglib.__file__).parent / "taxonomies.json").read_text())
    assert [c["name"] for c in doc["smg"]["classes"]] == tx.SMG_CLASSES
