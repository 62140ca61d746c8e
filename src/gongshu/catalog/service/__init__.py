"""Catalogue services (数据目录系统), one module per area:

- ``entries``: entries and data items (single and bulk create/update), reading, snapshots and diffs
- ``rules``: the rules on an entry and its items, checked against one shared context for any number
- ``lifecycle``: the review lifecycle (submit, approve, return, revise, withdraw, change declarations)
- ``elements``: data elements (数据元), single-source claims and conflicts (一数一源), collection lists
- ``grading``: grades and grading rules, grade suggestions (分类分级)
- ``inventories``: system list, data list, sharing responsibility list, collection and demand lists (清单)
- ``demands``: the demand list (需求清单): register, route, answer, confirm; suggestions from search
- ``projects``: e-government projects and their compliance check
- ``search``: Chinese full-text search with pinyin and facets
- ``transfer``: spreadsheet import/export in the national template, JSON export
- ``workbook``: the national template's layout, reading an uploaded workbook, writing one
- ``xlsx``: a fast read-only reader of .xlsx cell values (used by ``workbook``)

Other domains import ``gongshu.catalog.service.<module>``.
"""
