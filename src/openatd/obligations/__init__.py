"""Obligations of participants (court hearings, appointments, check-ins, other conditions),
their reminders through the outbox, iCalendar import and the private calendar feed.

Services only: no web request, no SQL (repositories), no sockets (the outbox sends).
"""
