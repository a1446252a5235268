"""Persons discharging managerial responsibilities and their closely associated persons (MAR
Art. 19), the financial calendar and its closed periods (Art. 19(11))."""
