"""Catalogue services (数据目录系统), one module per area:

- ``entries``: entries and data items, the rules on them, the review lifecycle, versions and diffs
- ``elements``: data elements (数据元), single-source claims and conflicts (一数一源), collection lists
- ``grading``: grades and grading rules, grade suggestions (分类分级)
- ``inventories``: system list, data list, sharing responsibility list (清单)
- ``projects``: e-government projects and their compliance check
- ``search``: Chinese full-text search with pinyin and facets
- ``transfer``: spreadsheet import/export in the national template, JSON export

Other domains import ``gongshu.catalog.service.<module>``.
"""
