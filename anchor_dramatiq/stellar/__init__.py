"""Stellar helpers built on stellar-sdk: keys, Horizon clients, memos."""
