"""Delayed disclosure of inside information (MAR Art. 17(4); Implementing Regulation (EU)
2016/1055 Art. 4): one record per decision to delay, every change a new version."""
