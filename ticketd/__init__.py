"""ticketd: ticketing server for high-demand on-sales."""

__version__ = "0.1.0"
