"""Tiny feature modules the tests build DAGs from (each one shows one rule, valid or broken)."""
