"""Offset and keyset pagination parameters shared by listings."""

from __future__ import annotations

from dataclasses import dataclass

from gongshu.errors import Invalid


@dataclass(frozen=True)
class Page:
    page: int = 1
    size: int = 20

    def __post_init__(self) -> None:
        if self.page < 1:
            raise Invalid("页码必须从 1 开始", "Page numbers start at 1", field="page")
        if not 1 <= self.size <= 500:
            raise Invalid("每页条数应在 1 到 500 之间", "Page size must be between 1 and 500", field="size")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size
