"""Catalogue services (数据目录系统)."""
