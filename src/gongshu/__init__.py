"""公数 gongshu — the public data platform of a city (市级大数据中心)."""

__version__ = "0.1.0"
