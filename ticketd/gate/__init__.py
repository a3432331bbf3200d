"""Standing in front of a site that is not ticketd: signing keys in PostgreSQL, admission
tokens (JWS), the return-URL rules of the gate page."""
