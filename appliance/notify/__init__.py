"""Outgoing mail (SMTP) and the record of reminders sent. What to send is the domain's to say
(appliance/cases/reminders.py, appliance/cases/new_reports.py, appliance/readers/notices.py).
"""
