"""The open data system (数据开放系统, R-OPN-1 … R-OPN-9): which published entries are open to the public, the
review before opening, what the public receives (items, masking) and the portal's pages and APIs."""
