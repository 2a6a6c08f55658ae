"""Reporting: audits of published claims against measurement (and, later, full capacity reports)."""
