"""GB 11643 citizen ID numbers and GB 32100 USCCs: validation and masking."""

from __future__ import annotations

import pytest

from gongshu.errors import Invalid
from gongshu.kit.identifiers import mask_id_number, mask_mobile, mask_name, validate_id_number, validate_uscc


def test_worked_examples_from_the_standards():
    assert validate_id_number("11010519491231002x") == "11010519491231002X"
    assert validate_uscc("91350100M000100Y43") == "91350100M000100Y43"


@pytest.mark.parametrize("bad,needle", [("110105194912310021", "校验位"), ("11010519491331002X", "出生日期"),
                                        ("1101051949", "18 位")])
def test_bad_id_numbers_explained(bad, needle):
    with pytest.raises(Invalid) as e:
        validate_id_number(bad)
    assert needle in e.value.message and e.value.status == 422


def test_bad_uscc_explained():
    with pytest.raises(Invalid) as e:
        validate_uscc("91350100M000100Y44")
    assert "校验位" in e.value.message
    with pytest.raises(Invalid):
        validate_uscc("91350100M00010OY43")


def test_masks():
    assert mask_id_number("440106199001011234") == "4401**********1234"
    assert mask_mobile("13812345678") == "138****5678"
    assert mask_name("张三") == "张*" and mask_name("欧阳娜娜") == "欧阳**"
