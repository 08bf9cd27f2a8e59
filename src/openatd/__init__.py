"""OpenATD: open-source supervision for alternatives-to-detention, pretrial and probation."""

__version__ = "0.1.0"
