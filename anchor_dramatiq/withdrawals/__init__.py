"""Payouts of paid withdrawals and sends: execute (once per claim), poll, and settle held ones."""
