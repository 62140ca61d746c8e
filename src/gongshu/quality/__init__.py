"""Governance (数据治理): quality rules and scores over accepted data versions, cross-source comparison and
sensitive-data recognition, and the closed loop that routes every data problem to the department that must fix it
(R-GOV-1…4)."""
