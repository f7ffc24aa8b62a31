"""Privacy operations on stored data: erasing a user, purging old anonymous visitors."""
