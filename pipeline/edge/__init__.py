"""The HTTP edge: parse, authenticate, validate, hand over. No business logic here."""
