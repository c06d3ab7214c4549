"""``make bench``: OrderFlow's performance contracts, measured on this machine.

Figures are reported with a baseline measured in the same run, because the machine is
shared and noisy: ratios travel, absolute numbers do not.
"""
